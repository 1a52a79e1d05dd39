from django.db import migrations

# However a row is written (the ORM, update(), raw SQL, an import, the sign path's INSERT …
# ON CONFLICT), the trigger decides email_hash whenever the address column is written: a writer
# can never store a hash of its own with an address. It computes the hash from the row's own
# address when the connection knows the key (Muster's connections are given HMAC-SHA256's pads
# at start, as the session setting muster.email_hash_pads: see config/settings.py), exactly as
# mailings.recipients._EmailDigest does. Without the key (psql, a pooler that drops startup
# options) a new or changed address gets no hash, which beat fills in; the same address keeps
# the stored one.
TRIGGER = ["""
CREATE FUNCTION engage_supporter_email_hash_write() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    setting text := current_setting('muster.email_hash_pads', true);
    pads bytea;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.email IS NOT DISTINCT FROM OLD.email THEN
        NEW.email_hash := OLD.email_hash;
    ELSE
        NEW.email_hash := NULL;
    END IF;
    IF NEW.email IS NOT NULL AND length(setting) = 256 AND setting !~ '[^0-9a-fA-F]' THEN
        pads := decode(setting, 'hex');
        NEW.email_hash := sha256(substring(pads FROM 65 FOR 64)
                                 || sha256(substring(pads FROM 1 FOR 64) || convert_to(lower(trim(NEW.email)), 'UTF8')));
    END IF;
    RETURN NEW;
END
$$
""", """
CREATE TRIGGER engage_supporter_email_hash_write BEFORE INSERT OR UPDATE OF email ON engage_supporter
    FOR EACH ROW EXECUTE FUNCTION engage_supporter_email_hash_write()
"""]
DROP_TRIGGER = [
    "DROP TRIGGER IF EXISTS engage_supporter_email_hash_write ON engage_supporter",
    "DROP FUNCTION IF EXISTS engage_supporter_email_hash_write()",
]

# 0004's trigger, which only ever emptied the hash.
RESET_TRIGGER = ["""
CREATE FUNCTION engage_supporter_email_hash_reset() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' OR NEW.email IS DISTINCT FROM OLD.email THEN
        NEW.email_hash := NULL;
    END IF;
    RETURN NEW;
END
$$
""", """
CREATE TRIGGER engage_supporter_email_hash_reset BEFORE INSERT OR UPDATE OF email ON engage_supporter
    FOR EACH ROW EXECUTE FUNCTION engage_supporter_email_hash_reset()
"""]
DROP_RESET_TRIGGER = [
    "DROP TRIGGER IF EXISTS engage_supporter_email_hash_reset ON engage_supporter",
    "DROP FUNCTION IF EXISTS engage_supporter_email_hash_reset()",
]


def _run(schema_editor, statements):
    # Only PostgreSQL reads the column (elsewhere every address is hashed when needed).
    if schema_editor.connection.vendor == "postgresql":
        for statement in statements:
            schema_editor.execute(statement)


def trigger_replace(apps, schema_editor):
    _run(schema_editor, DROP_RESET_TRIGGER + TRIGGER)


def trigger_restore(apps, schema_editor):
    _run(schema_editor, DROP_TRIGGER + RESET_TRIGGER)


class Migration(migrations.Migration):

    dependencies = [
        ('engage', '0004_supporter_email_hash'),
    ]

    operations = [
        migrations.RunPython(trigger_replace, trigger_restore),
    ]
