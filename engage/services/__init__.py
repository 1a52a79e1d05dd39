"""engage's writes, one module per flow: supporters, consent, subscriptions, signups,
preferences, data_exports, imports, partner_keys, erasure, suppression. Views, admin actions
and tasks call them; each is the only place that changes what it writes.
"""
