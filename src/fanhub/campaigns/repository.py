"""Queries on campaigns start here: the organization filter (see `db/repository.py`)."""

from __future__ import annotations

from fanhub.campaigns.models import Campaign
from fanhub.db.repository import Repository


class CampaignRepository(Repository[Campaign]):
    model = Campaign
    noun = "campaign"
