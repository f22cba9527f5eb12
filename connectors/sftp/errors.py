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


class FileNotSettledError(SftpError):
    """An inbox file changed while it was being read (still being uploaded): nothing of it is kept, it stays
    in the inbox for the next run."""


class LeadFileLimitError(LeadFileError):
    """A lead file over a configured limit (bytes, rows, inflated XLSX size): `per_run` when it is the run's
    allowance that ran out (the file waits for the next run) rather than the file's own (it goes to error/)."""

    def __init__(self, message: str, per_run: bool = False):
        super().__init__(message)
        self.per_run = per_run
