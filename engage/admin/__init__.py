"""engage's admin, one module per group of models; importing this package registers them all."""

from engage.admin import imports, lists, organisations, partner_webhooks, supporters  # noqa: F401
