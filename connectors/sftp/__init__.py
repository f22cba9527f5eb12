"""SFTP lead drops: client, lead-file decoding, sandbox server and demo data."""
