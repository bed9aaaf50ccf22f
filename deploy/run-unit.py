#!/usr/bin/env python3
"""Run a systemd service unit's ExecStart the way systemd would, on a machine where systemd is not PID 1.

    deploy/run-unit.py /etc/systemd/system/guanxi-web.service
    deploy/run-unit.py /etc/systemd/system/guanxi-worker@.service 1     # instance name for %i

Used by deploy/drill.sh inside containers. It honours the directives the guanxi units use:
User, Group, EnvironmentFile, Environment, ExecStart (with line continuations), WorkingDirectory,
NoNewPrivileges, PrivateTmp, ProtectSystem=strict, ProtectHome=yes and ReadWritePaths — the last
four in a private mount namespace (`unshare`), so a unit that needs to write outside its
ReadWritePaths fails here as it would under systemd. Runs as root; replaces itself with the
service's main process (send it SIGTERM to stop it, as systemd does).
"""

# ruff: noqa: S603, S606, S607, S108 - a root tool that runs mount, unshare and setpriv by design
from __future__ import annotations

import grp
import os
import pwd
import shlex
import subprocess
import sys

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def parse_unit(path: str, instance: str = "") -> dict[str, list[str]]:
    """The [Service] section's directives, each a list of its values in order."""
    text = open(path, encoding="utf-8").read().replace("\\\n", " ")
    section = ""
    out: dict[str, list[str]] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        if section != "Service" or "=" not in line:
            continue
        key, value = line.split("=", 1)
        out.setdefault(key.strip(), []).append(value.strip().replace("%i", instance))
    return out


def parse_environment_file(path: str) -> dict[str, str]:
    """systemd's EnvironmentFile= rules: KEY=VALUE lines; '#' or ';' starts a comment only at a
    line's start (an inline '# ...' stays part of the value, as with systemd); quotes are removed."""
    env: dict[str, str] = {}
    for raw in open(path, encoding="utf-8").read().splitlines():
        line = raw.strip()
        if not line or line[0] in "#;" or "=" not in line:
            continue
        key, value = line.split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        env[key.strip()] = value
    return env


def mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True)


def sandbox(unit: dict[str, list[str]]) -> None:
    """Inside a private mount namespace: PrivateTmp, ProtectHome, ProtectSystem=strict, ReadWritePaths."""
    flag = lambda name: unit.get(name, [""])[-1].lower()  # noqa: E731
    writable = [p for v in unit.get("ReadWritePaths", []) for p in v.split()]
    if flag("PrivateTmp") in {"yes", "true", "1"}:
        for tmp in ("/tmp", "/var/tmp"):
            mount("-t", "tmpfs", "-o", "mode=1777", "tmpfs", tmp)
            writable.append(tmp)
    if flag("ProtectHome") in {"yes", "true", "1"}:
        for home in ("/home", "/root", "/run/user"):
            if os.path.isdir(home):
                mount("-t", "tmpfs", "-o", "ro,mode=755", "tmpfs", home)
    for name in unit.get("RuntimeDirectory", []):
        for sub in name.split():
            path = os.path.join("/run", sub)
            os.makedirs(path, mode=0o755, exist_ok=True)
            user = unit.get("User", ["root"])[-1]
            entry = pwd.getpwnam(user)
            os.chown(path, entry.pw_uid, grp.getgrnam(unit.get("Group", [user])[-1]).gr_gid)
            writable.append(path)
    for path in writable:
        mount("--bind", path, path)
    if flag("ProtectSystem") == "strict":
        api = ("/proc", "/sys", "/dev")
        points = []
        for line in open("/proc/self/mountinfo", encoding="utf-8"):
            point = line.split()[4].replace("\\040", " ")
            if point.startswith(api) or point in writable or point in {"/home", "/root", "/run/user"}:
                continue
            points.append(point)
        for point in points:
            # a mount that cannot be remounted (e.g. a read-only overlay member) stays as it is
            subprocess.run(["mount", "-o", "remount,bind,ro", point], stderr=subprocess.DEVNULL, check=False)


def main() -> int:
    args = sys.argv[1:]
    inner = args[:1] == ["--inner"]
    if inner:
        args = args[1:]
    unit_path, instance = args[0], (args[1] if len(args) > 1 else "")
    unit = parse_unit(unit_path, instance)
    if not inner:
        # a private mount namespace; the rest happens in the copy of this script that runs inside it
        os.execvp("unshare", ["unshare", "--mount", "--propagation", "private", "--",
                              sys.executable, os.path.abspath(__file__), "--inner", *args])
    sandbox(unit)
    user = unit.get("User", ["root"])[-1]
    group = unit.get("Group", [user])[-1]
    home = pwd.getpwnam(user).pw_dir
    env = {"PATH": DEFAULT_PATH, "LANG": "C.UTF-8", "HOME": home, "USER": user, "LOGNAME": user,
           "SHELL": pwd.getpwnam(user).pw_shell}
    for path in unit.get("EnvironmentFile", []):
        optional = path.startswith("-")
        path = path.lstrip("-")
        if optional and not os.path.exists(path):
            continue
        env.update(parse_environment_file(path))
    for value in unit.get("Environment", []):
        for assignment in shlex.split(value):
            key, val = assignment.split("=", 1)
            env[key] = val
    command = shlex.split(unit["ExecStart"][-1].lstrip("-@+!"))
    os.chdir(unit.get("WorkingDirectory", ["/"])[-1].replace("~", home))
    setpriv = ["setpriv", "--reuid", user, "--regid", group, "--init-groups"]
    if unit.get("NoNewPrivileges", ["no"])[-1].lower() in {"yes", "true", "1"}:
        setpriv.append("--no-new-privs")
    os.execvpe("setpriv", [*setpriv, "--", *command], env)
    return 1


if __name__ == "__main__":
    sys.exit(main())
