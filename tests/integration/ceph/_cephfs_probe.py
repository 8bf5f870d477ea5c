"""Acts as one service on CephFS through libcephfs (Debian's python3-cephfs, so it runs under
the system Python): mounts its own subvolume, writes, reads back and reads the quota there,
then tries another service's subvolume and the filesystem's root. Prints one JSON object.

    python3 _cephfs_probe.py CONF KEYRING ENTITY FS OWN_PATH OTHER_PATH
"""

import json
import sys

import cephfs


def mount(conf: str, keyring: str, entity: str, fs: str, root: str) -> "cephfs.LibCephFS":
    client = cephfs.LibCephFS(
        conffile=conf,
        auth_id=entity.removeprefix("client."),
        conf={"keyring": keyring, "client_mount_timeout": "10"},
    )
    client.mount(mount_root=root.encode(), filesystem_name=fs.encode())
    return client


def attempt(conf: str, keyring: str, entity: str, fs: str, root: str) -> str:
    """``ok`` if the key may mount ``root`` and create a file in it, else the error."""
    try:
        client = mount(conf, keyring, entity, fs, root)
        fd = client.open(b"/intruder", "w", 0o644)
        client.close(fd)
        client.unmount()
        return "ok"
    except cephfs.Error as exc:
        return f"{type(exc).__name__}: {exc}"


def main() -> None:
    conf, keyring, entity, fs, own, other = sys.argv[1:]
    client = mount(conf, keyring, entity, fs, own)
    fd = client.open(b"/probe", "w", 0o644)
    client.write(fd, b"order 42", 0)
    client.close(fd)
    fd = client.open(b"/probe", "r")
    back = client.read(fd, 0, 64)
    client.close(fd)
    quota = client.getxattr(b"/", b"ceph.quota.max_bytes")
    client.unmount()
    print(
        json.dumps(
            {
                "read_back": back.decode(),
                "quota": quota.decode(),
                "other": attempt(conf, keyring, entity, fs, other),
                "root": attempt(conf, keyring, entity, fs, "/"),
            }
        )
    )


if __name__ == "__main__":
    main()
