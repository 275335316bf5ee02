"""Campaigns: compose, audience, send (SMTP, SMS), tracking, attribution and analytics."""
