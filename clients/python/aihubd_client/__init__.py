"""Thin Python client for the aihubd daemon, mirroring qai_hub.LinkJob."""
