"""Deciding which partner gets each lead, and recording why."""
