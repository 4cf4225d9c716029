// Package userdb looks up users and groups as the C library does, without
// cgo. sockd is built without cgo (a smaller binary and resident set), and
// then os/user only reads /etc/passwd and /etc/group; a name or id it does
// not find there (users from LDAP, sssd, systemd's NSS modules...) is asked
// of getent(1), which goes through the system's NSS configuration as a cgo
// lookup would. Built with cgo, os/user already uses NSS and the fallback
// only runs for names that do not exist.
package userdb

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strings"
	"time"
)

// getentTimeout bounds one getent run (a slow directory server must not
// hold sockd's start of a service forever).
const getentTimeout = 10 * time.Second

// Lookup finds a user by name.
func Lookup(name string) (*user.User, error) {
	u, err := user.Lookup(name)
	if !unknown(err) {
		return u, err
	}
	if u, ok := getentUser(name); ok {
		return u, nil
	}
	return nil, err
}

// LookupId finds a user by numeric id.
func LookupId(uid string) (*user.User, error) { //nolint:revive // named after os/user
	u, err := user.LookupId(uid)
	if !unknown(err) {
		return u, err
	}
	if u, ok := getentUser(uid); ok && u.Uid == uid {
		return u, nil
	}
	return nil, err
}

// LookupGroup finds a group by name.
func LookupGroup(name string) (*user.Group, error) {
	g, err := user.LookupGroup(name)
	if !unknown(err) {
		return g, err
	}
	if g, ok := getentGroup(name); ok {
		return g, nil
	}
	return nil, err
}

// LookupGroupId finds a group by numeric id.
func LookupGroupId(gid string) (*user.Group, error) { //nolint:revive // named after os/user
	g, err := user.LookupGroupId(gid)
	if !unknown(err) {
		return g, err
	}
	if g, ok := getentGroup(gid); ok && g.Gid == gid {
		return g, nil
	}
	return nil, err
}

// GroupIds lists the groups u is a member of, its primary group included,
// as initgroups(3) would set them.
func GroupIds(u *user.User) ([]string, error) {
	if _, err := user.Lookup(u.Username); err == nil {
		if ids, err := u.GroupIds(); err == nil {
			return ids, nil
		}
	}
	// Not a user of the files (or os/user cannot list its groups): ask
	// NSS. The output is "NAME GID GID...".
	out, ok := getent("initgroups", u.Username)
	if !ok {
		return u.GroupIds()
	}
	f := strings.Fields(out)
	if len(f) < 1 || f[0] != u.Username {
		return nil, fmt.Errorf("getent initgroups %s: unexpected output %q", u.Username, out)
	}
	ids := []string{u.Gid}
	for _, id := range f[1:] {
		if id != u.Gid {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// LookupShell is Lookup (LookupId for a numeric name that is not a user
// name) that also returns the user's login shell, which os/user does not
// report, from the same passwd entry: a user found through getent costs
// one run of it, not two.
func LookupShell(name string) (*user.User, string, error) {
	u, err := user.Lookup(name)
	if unknown(err) && numeric(name) {
		u, err = user.LookupId(name)
	}
	if err == nil {
		return u, filesShell(u.Username), nil
	}
	if !unknown(err) {
		return nil, "", err
	}
	out, ok := getent("passwd", name)
	if !ok {
		return nil, "", err
	}
	gu, ok := parsePasswd(out)
	if !ok {
		return nil, "", err
	}
	f := strings.Split(strings.TrimSpace(out), ":")
	return gu, f[6], nil
}

// filesShell is the shell of name in /etc/passwd ("" if not there).
func filesShell(name string) string {
	if b, err := os.ReadFile("/etc/passwd"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Split(line, ":"); len(f) == 7 && f[0] == name {
				return f[6]
			}
		}
	}
	return ""
}

func unknown(err error) bool {
	var uu user.UnknownUserError
	var uid user.UnknownUserIdError
	var ug user.UnknownGroupError
	var ugid user.UnknownGroupIdError
	return errors.As(err, &uu) || errors.As(err, &uid) || errors.As(err, &ug) || errors.As(err, &ugid)
}

func getentUser(key string) (*user.User, bool) {
	out, ok := getent("passwd", key)
	if !ok {
		return nil, false
	}
	return parsePasswd(out)
}

func getentGroup(key string) (*user.Group, bool) {
	out, ok := getent("group", key)
	if !ok {
		return nil, false
	}
	return parseGroup(out)
}

// parsePasswd parses one passwd(5) line: name:password:uid:gid:gecos:home:shell.
func parsePasswd(line string) (*user.User, bool) {
	f := strings.Split(strings.TrimSpace(line), ":")
	if len(f) != 7 || f[0] == "" || !numeric(f[2]) || !numeric(f[3]) {
		return nil, false
	}
	name, _, _ := strings.Cut(f[4], ",")
	return &user.User{Username: f[0], Uid: f[2], Gid: f[3], Name: name, HomeDir: f[5]}, true
}

// parseGroup parses one group(5) line: name:password:gid:members.
func parseGroup(line string) (*user.Group, bool) {
	f := strings.Split(strings.TrimSpace(line), ":")
	if len(f) != 4 || f[0] == "" || !numeric(f[2]) {
		return nil, false
	}
	return &user.Group{Name: f[0], Gid: f[2]}, true
}

func numeric(s string) bool {
	if s == "" || len(s) > 10 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// getent runs getent(1) for one key; ok is false when it is not found (or
// getent is missing or fails).
func getent(db, key string) (string, bool) {
	if key == "" || strings.HasPrefix(key, "-") || strings.ContainsAny(key, ":\n\x00") {
		return "", false
	}
	path, err := exec.LookPath("getent")
	if err != nil {
		return "", false
	}
	cmd := exec.Command(path, db, key)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		return "", false
	}
	t := time.AfterFunc(getentTimeout, func() { _ = cmd.Process.Kill() })
	// The answer is the output (getent prints nothing for an unknown key),
	// not the exit status: in sockd's daemon the spawner's orphan reaper
	// may reap getent before Wait does, and Wait then fails with ECHILD.
	_ = cmd.Wait()
	t.Stop()
	line, _, _ := strings.Cut(out.String(), "\n")
	return line, line != ""
}
