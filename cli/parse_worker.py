"""The mailbox import's parsing worker: ``python -m cli.parse_worker`` (started by ``cli.mail_import``).

Reads pickled lists of raw mails on stdin and answers each list, in order, with a pickled list of
what ``channels.email.parse_many`` made of them, until stdin closes. It touches no database and
writes no log line with mail content; the importer stores and files what it parsed.
"""

from __future__ import annotations

import pickle
import signal
import sys

from channels import email as email_channel


def main() -> None:
    """Answer batches until the importer closes the pipe."""
    # Ctrl+C at the terminal reaches the whole process group: the importer stops this worker
    # itself, so the user sees the import's own message, not a second traceback from here.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        try:
            bodies = pickle.load(stdin)
        except EOFError:
            return
        pickle.dump(email_channel.parse_many(bodies), stdout, protocol=pickle.HIGHEST_PROTOCOL)
        stdout.flush()


if __name__ == "__main__":
    main()
