
import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('engage', '0010_supporter_search_indexes'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # The plain many-to-many's table becomes OrganisationMember's, its rows kept: only the
        # state changes, then the role column is added. Existing members become admins (what
        # they could do before roles); members.add() gives organiser from now on.
        migrations.SeparateDatabaseAndState(
            state_operations=[
            migrations.CreateModel(
                name='OrganisationMember',
                fields=[
                    ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                    ('organisation', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='people', to='engage.organisation')),
                    ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='organisation_memberships', to=settings.AUTH_USER_MODEL)),
                ],
                options={
                    'db_table': 'engage_organisation_members',
                    'unique_together': {('organisation', 'user')},
                },
            ),
            migrations.AlterField(
                model_name='organisation',
                name='members',
                field=models.ManyToManyField(blank=True, help_text="Users who may work in this organisation's workspace, each with a role.", related_name='organisations', through='engage.OrganisationMember', to=settings.AUTH_USER_MODEL),
            ),
            ],
            database_operations=[],
        ),
        migrations.AddField(
            model_name='organisationmember',
            name='role',
            field=models.CharField(choices=[('admin', 'Admin'), ('organiser', 'Organiser'), ('viewer', 'Viewer')], default='admin', max_length=20, verbose_name='role'),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name='organisationmember',
            name='role',
            field=models.CharField(choices=[('admin', 'Admin'), ('organiser', 'Organiser'), ('viewer', 'Viewer')], default='organiser', max_length=20, verbose_name='role'),
        ),
        migrations.CreateModel(
            name='AuditEvent',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('at', models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                ('actor_name', models.CharField(blank=True, max_length=254)),
                ('action', models.CharField(max_length=60)),
                ('target_type', models.CharField(blank=True, max_length=60)),
                ('target_id', models.CharField(blank=True, max_length=64)),
                ('target_name', models.CharField(blank=True, max_length=254)),
                ('details', models.JSONField(blank=True, default=dict)),
                ('ip_hash', models.CharField(blank=True, max_length=32)),
                ('actor', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('organisation', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='engage.organisation')),
            ],
            options={
                'indexes': [models.Index(fields=['organisation', '-at'], name='audit_organisation_at'), models.Index(fields=['action', '-at'], name='audit_action_at')],
            },
        ),
        migrations.CreateModel(
            name='Invitation',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('email', models.EmailField(max_length=254, verbose_name='email address')),
                ('role', models.CharField(choices=[('admin', 'Admin'), ('organiser', 'Organiser'), ('viewer', 'Viewer')], max_length=20, verbose_name='role')),
                ('token_hash', models.CharField(max_length=64, unique=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('sent_at', models.DateTimeField(null=True)),
                ('expires_at', models.DateTimeField()),
                ('accepted_at', models.DateTimeField(null=True)),
                ('revoked_at', models.DateTimeField(null=True)),
                ('accepted_by', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('invited_by', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('organisation', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='invitations', to='engage.organisation')),
            ],
            options={
                'indexes': [models.Index(fields=['organisation', 'accepted_at', 'revoked_at'], name='invitation_pending')],
            },
        ),
    ]
