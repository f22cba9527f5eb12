"""What can go wrong with an SFTP source, split by who must act."""


class SftpError(Exception):
    """Base class of SFTP problems."""


class SftpConfigError(SftpError):
    """The user must fix configuration: credentials, host key, host name, folder. Never retried."""


class SftpTransientError(SftpError):
    """A dropped connection or a timeout: worth retrying."""


class LeadFileError(Exception):
    """A file that cannot be read as a table of leads; the message names the file, reason and fix."""
