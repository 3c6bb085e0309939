"""The key that encrypts cluster credentials: from SUANLI_SECRET_KEY (with rotation) or a 0600 key file."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import uuid

import pytest
from cryptography.fernet import Fernet

from suanli.config import SettingsError
from suanli.jobs import credentials


@pytest.fixture(autouse=True)
def fresh_cipher(monkeypatch, tmp_path):
    monkeypatch.delenv("SUANLI_SECRET_KEY", raising=False)
    monkeypatch.setenv("SUANLI_HOME", str(tmp_path / "home"))
    credentials.reset_cipher()
    yield
    credentials.reset_cipher()


def test_a_key_file_is_created_once_with_mode_0600_and_reused(tmp_path):
    # A token long enough that the ciphertext's base64 cannot hold it by chance ("t0p" once did: CI failed on it)
    token = "tok-" + uuid.uuid4().hex
    sealed = credentials.seal({"token": token})
    key_file = tmp_path / "home" / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    first_key = key_file.read_text()
    credentials.reset_cipher()
    assert credentials.unseal(sealed) == {"token": token}
    assert key_file.read_text() == first_key
    assert token not in str(sealed) and Fernet(first_key.strip().encode()).decrypt(sealed["fernet"].encode())


def test_a_key_file_others_can_read_is_refused(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "secret.key").write_text(credentials.new_key())
    (home / "secret.key").chmod(0o644)
    with pytest.raises(SettingsError, match="chmod 600"):
        credentials.seal({"a": "b"})


def test_rotation_new_key_first_old_key_still_decrypts_and_reencrypt_moves_rows(monkeypatch):
    old, new = credentials.new_key(), credentials.new_key()
    monkeypatch.setenv("SUANLI_SECRET_KEY", old)
    sealed_old = credentials.seal({"token": "x"})
    credentials.reset_cipher()
    monkeypatch.setenv("SUANLI_SECRET_KEY", f"{new},{old}")
    assert credentials.unseal(sealed_old) == {"token": "x"}
    sealed_new = credentials.seal({"token": "x"})
    credentials.reset_cipher()
    monkeypatch.setenv("SUANLI_SECRET_KEY", new)  # the old key dropped: only rows sealed with the new one read
    assert credentials.unseal(sealed_new) == {"token": "x"}
    unreadable = credentials.unseal(sealed_old)
    assert isinstance(unreadable, credentials.UnreadableCredentials) and unreadable == {}


def test_a_malformed_key_says_how_to_make_one(monkeypatch):
    monkeypatch.setenv("SUANLI_SECRET_KEY", "not-a-key")
    with pytest.raises(SettingsError, match="Fernet.generate_key"):
        credentials.seal({"a": "b"})


def test_rows_written_before_encryption_are_read_as_they_are():
    assert credentials.unseal({"user": "u", "token": "t"}) == {"user": "u", "token": "t"}
    assert credentials.unseal('{"user": "u"}') == {"user": "u"}


def test_a_new_suanli_home_gets_its_own_key_without_a_reset(monkeypatch, tmp_path):
    """The cipher is cached per key source: a process that moves to another SUANLI_HOME (the CLI tests do; a
    subprocess of theirs starts in the default home) must not keep sealing with the first home's key."""
    from suanli.jobs import credentials

    monkeypatch.delenv("SUANLI_SECRET_KEY", raising=False)
    credentials.reset_cipher()
    monkeypatch.setenv("SUANLI_HOME", str(tmp_path / "a"))
    sealed_in_a = credentials.encrypt({"token": "x"})
    monkeypatch.setenv("SUANLI_HOME", str(tmp_path / "b"))
    assert (tmp_path / "b" / credentials.KEY_FILE).exists() is False
    sealed_in_b = credentials.encrypt({"token": "x"})
    assert (tmp_path / "b" / credentials.KEY_FILE).exists()
    assert credentials.decrypt(sealed_in_b) == {"token": "x"}
    assert isinstance(credentials.decrypt(sealed_in_a), credentials.UnreadableCredentials)
    credentials.reset_cipher()


@pytest.fixture
def full_home(tmp_path):
    """SUANLI_HOME on a real 64 KiB tmpfs, filled to the last byte (mounting needs root: skipped otherwise)."""
    home = tmp_path / "home"
    home.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", str(home)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        fd = os.open(home / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            with pytest.raises(OSError) as full:
                while True:
                    os.write(fd, b"x" * 512)
            assert full.value.errno == errno.ENOSPC
        finally:
            os.close(fd)
        yield home
    finally:
        subprocess.run(["umount", str(home)], check=True)


def test_a_full_disk_is_a_clear_error_and_leaves_no_key_file_behind(full_home):
    with pytest.raises(SettingsError, match="No space left.*Free space in"):
        credentials.seal({"token": "t0p"})
    assert sorted(p.name for p in full_home.iterdir()) == ["filler"]  # no empty secret.key, no temporary file
    (full_home / "filler").unlink()  # space again: the next try makes the key, with nothing to clean up first
    assert credentials.unseal(credentials.seal({"token": "t0p"})) == {"token": "t0p"}
    assert len((full_home / "secret.key").read_text().strip()) == 44
