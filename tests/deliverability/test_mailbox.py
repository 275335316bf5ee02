"""read_messages on each file layout; poll_mailbox against the fake POP3 and IMAP servers."""

from __future__ import annotations

import imaplib
import mailbox
import poplib
import shutil
from pathlib import Path

import pytest

from fanhub.deliverability.dsn import parse_bounce
from fanhub.deliverability.mailbox import MailboxURLError, parse_mailbox_url, poll_mailbox, read_messages
from tests.fakes.mailbox import FakeImapServer, FakePop3Server

SAMPLES = Path(__file__).parent / "samples"
THREE = ["postfix_user_unknown.eml", "qmail_no_mailbox.eml", "arf_aol_rcpt_to.eml"]


def _raw(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def _tokens(raws: list[bytes]) -> list[str]:
    return [parse_bounce(raw)[0].verp_token or "" for raw in raws]


EXPECTED_TOKENS = ["c101-0a1b2c3d01", "c106-0a1b2c3d06", "c116-0a1b2c3d16"]


def test_single_eml_file() -> None:
    [(name, raw)] = list(read_messages(SAMPLES / "qmail_no_mailbox.eml"))
    assert name.endswith("qmail_no_mailbox.eml")
    assert raw == _raw("qmail_no_mailbox.eml")


def test_folder_of_eml_files_ignores_other_files(tmp_path: Path) -> None:
    for name in THREE:
        shutil.copy(SAMPLES / name, tmp_path / name)
    (tmp_path / "notes.txt").write_text("not a message")
    got = list(read_messages(tmp_path))
    assert [Path(name).name for name, _ in got] == sorted(THREE)
    assert sorted(_tokens([raw for _, raw in got])) == sorted(EXPECTED_TOKENS)


def test_maildir_reads_new_and_cur(tmp_path: Path) -> None:
    box = mailbox.Maildir(tmp_path / "Maildir", create=True)
    for name in THREE:
        box.add(_raw(name))
    # One message already seen by a mail client: moved to cur/.
    key = next(iter(box.iterkeys()))
    message = box[key]
    message.set_subdir("cur")
    box[key] = message
    assert len(list((tmp_path / "Maildir" / "cur").iterdir())) == 1
    got = [raw for _, raw in read_messages(tmp_path / "Maildir")]
    assert sorted(_tokens(got)) == sorted(EXPECTED_TOKENS)


def test_mbox_file(tmp_path: Path) -> None:
    path = tmp_path / "bounces.mbox"
    box = mailbox.mbox(path, create=True)
    for name in THREE:
        box.add(_raw(name))
    box.close()
    got = list(read_messages(path))
    assert len(got) == 3
    assert _tokens([raw for _, raw in got]) == EXPECTED_TOKENS
    assert all("#" in name for name, _ in got)


def test_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        list(read_messages(tmp_path / "nope"))


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("http://u:p@host/", "scheme"),
        ("imap://u:p@/INBOX", "host"),
        ("pop3://host", "user:password"),
        ("imaps://u:p@host:abc/", "port"),
    ],
)
def test_bad_mailbox_urls_name_the_wrong_part(url: str, field: str) -> None:
    with pytest.raises(MailboxURLError, match=field):
        parse_mailbox_url(url)


def test_mailbox_url_defaults_and_escapes() -> None:
    where = parse_mailbox_url("imaps://bounce%40venue:p%2Fw@mail.example.com/Bounces%20In")
    assert (where.host, where.port, where.user, where.password, where.folder) == (
        "mail.example.com",
        993,
        "bounce@venue",
        "p/w",
        "Bounces In",
    )
    assert parse_mailbox_url("pop3://u:p@h").port == 110


# --- POP3 -----------------------------------------------------------------------------------------


def test_pop3_handles_and_deletes_up_to_the_limit() -> None:
    with FakePop3Server(password="p@ss word") as server:
        for name in THREE:
            server.add(_raw(name))
        seen: list[bytes] = []
        assert poll_mailbox(server.url, seen.append, limit=2) == 2
        assert _tokens(seen) == EXPECTED_TOKENS[:2]
        assert seen[0].replace(b"\r\n", b"\n") == _raw(THREE[0])  # byte-exact (dot-stuffing undone)
        assert server.messages == [_raw(THREE[2])]
        assert poll_mailbox(server.url, seen.append, limit=10) == 1
        assert server.messages == []
        assert "PASS ***" in server.commands and "QUIT" in server.commands


def test_pop3_handler_failure_leaves_that_message_and_the_rest() -> None:
    with FakePop3Server() as server:
        for name in THREE:
            server.add(_raw(name))
        calls: list[bytes] = []

        def handle(raw: bytes) -> None:
            calls.append(raw)
            if len(calls) == 2:
                raise RuntimeError("database is down")

        with pytest.raises(RuntimeError, match="database is down"):
            poll_mailbox(server.url, handle, limit=10)
        # The first was handled and deleted; the failing one and the one after it stay.
        assert server.messages == [_raw(THREE[1]), _raw(THREE[2])]
        assert poll_mailbox(server.url, lambda raw: None, limit=10) == 2
        assert server.messages == []


def test_pop3_wrong_password() -> None:
    with FakePop3Server() as server:
        server.add(_raw(THREE[0]))
        url = server.url.replace(":secret@", ":wrong@")
        with pytest.raises(poplib.error_proto):
            poll_mailbox(url, lambda raw: None, limit=1)
        assert len(server.messages) == 1


def test_pop3_dot_lines_survive_byte_stuffing() -> None:
    raw = b"From: a@example.com\r\nSubject: dots\r\n\r\n.\r\n..leading\r\nend\r\n"
    with FakePop3Server() as server:
        server.add(raw)
        seen: list[bytes] = []
        poll_mailbox(server.url, seen.append, limit=1)
    assert seen == [raw]


# --- IMAP -----------------------------------------------------------------------------------------


def test_imap_handles_and_expunges_up_to_the_limit() -> None:
    with FakeImapServer() as server:
        for name in THREE:
            server.add(_raw(name))
        seen: list[bytes] = []
        assert poll_mailbox(server.url + "/INBOX", seen.append, limit=2) == 2
        assert _tokens(seen) == EXPECTED_TOKENS[:2]
        assert seen[0] == _raw(THREE[0])
        assert server.messages == [_raw(THREE[2])]
        assert any(command.startswith("EXPUNGE") for command in server.commands)


def test_imap_reads_the_folder_in_the_url() -> None:
    with FakeImapServer() as server:
        server.add(_raw(THREE[0]))
        server.add_to("Bounces", _raw(THREE[1]))
        seen: list[bytes] = []
        assert poll_mailbox(server.url + "/Bounces", seen.append, limit=5) == 1
        assert _tokens(seen) == [EXPECTED_TOKENS[1]]
        assert server.folder("Bounces") == [] and server.messages == [_raw(THREE[0])]
        with pytest.raises(MailboxURLError, match="Missing"):
            poll_mailbox(server.url + "/Missing", seen.append, limit=5)


def test_imap_handler_failure_leaves_that_message_and_the_rest() -> None:
    with FakeImapServer() as server:
        for name in THREE:
            server.add(_raw(name))

        def handle(raw: bytes) -> None:
            if b"qmail" in raw:
                raise RuntimeError("database is down")

        with pytest.raises(RuntimeError):
            poll_mailbox(server.url, handle, limit=10)
        assert server.messages == [_raw(THREE[1]), _raw(THREE[2])]
        assert not any(command.startswith("STORE 2") for command in server.commands)


def test_imap_wrong_password() -> None:
    with FakeImapServer() as server:
        server.add(_raw(THREE[0]))
        with pytest.raises(imaplib.IMAP4.error):
            poll_mailbox(server.url.replace(":secret@", ":wrong@"), lambda raw: None, limit=1)
        assert len(server.messages) == 1


def test_zero_limit_does_not_connect() -> None:
    assert poll_mailbox("imap://u:p@127.0.0.1:1/INBOX", lambda raw: None, limit=0) == 0
