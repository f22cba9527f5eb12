"""What can go wrong with an SFTP lead drop, split by who has to act.

The split drives retries upstream: configuration errors fail at once (a retry cannot fix a wrong password),
transient errors are retried, and lead-file errors send one file to error/ while the rest carry on.
"""


class SftpError(Exception):
    """Base class of SFTP problems; raised as is for problems that fit neither subclass."""


class SftpConfigError(SftpError):
    """The user must fix configuration: credentials, host key, host name or port, folder, permissions.
    Never retried."""


class SftpTransientError(SftpError):
    """The connection dropped, timed out or hit EOF: worth retrying with a new connection."""


class SftpFileNotFoundError(SftpError, FileNotFoundError):
    """A file named by the caller is not (or no longer) on the server, e.g. another consumer moved it."""


class LeadFileError(Exception):
    """A file that cannot be read as a table of leads; the message names the file, the reason and the fix."""
