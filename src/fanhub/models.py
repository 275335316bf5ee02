"""Every table of fanhub, for Alembic's autogenerate and the schema test.

An assembly module like `app.py`: it imports every domain's models, so nothing below may import it.
"""

from fanhub.audience import models as audience_models
from fanhub.audience import suppression as audience_suppression_models
from fanhub.auth import models as auth_models
from fanhub.auth import users as auth_user_models
from fanhub.campaigns import models as campaign_models
from fanhub.catalog import models as catalog_models
from fanhub.connectors import models as connector_models
from fanhub.deliverability import engagement as deliverability_engagement_models
from fanhub.deliverability import models as deliverability_models
from fanhub.flows import models as flow_models
from fanhub.forms import models as form_models
from fanhub.imports import models as import_models
from fanhub.ingest import models as ingest_models
from fanhub.mcp import models as mcp_models  # noqa: F401
from fanhub.organizations import audit as organization_audit_models
from fanhub.organizations import models as organization_models
from fanhub.privacy import redact as privacy_redact_models

__all__ = [
    "import_models",
    "audience_models",
    "audience_suppression_models",
    "deliverability_models",
    "deliverability_engagement_models",
    "flow_models",
    "form_models",
    "auth_models",
    "auth_user_models",
    "campaign_models",
    "catalog_models",
    "connector_models",
    "ingest_models",
    "organization_audit_models",
    "organization_models",
    "privacy_redact_models",
]
