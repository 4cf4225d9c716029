//go:build linux

package spawner

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"

	"github.com/sockd/sockd/internal/userdb"
)

// DefaultPath is systemd's PATH for system services.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin"

// BaseEnv returns the environment systemd gives every service: PATH, LANG
// (when sockd has one), USER/LOGNAME/HOME/SHELL when cred is not nil, and a
// fresh INVOCATION_ID (128 random bits in hex), followed by the KEY=VALUE
// lists in order (Environment=, then each EnvironmentFile=). A later
// assignment to a key replaces an earlier one in place.
func BaseEnv(cred *Credential, lists ...[]string) []string {
	var id [16]byte
	rand.Read(id[:])
	env := []string{"PATH=" + DefaultPath}
	if lang, ok := os.LookupEnv("LANG"); ok {
		env = append(env, "LANG="+lang)
	}
	if cred != nil {
		if cred.User != "" {
			env = append(env, "USER="+cred.User, "LOGNAME="+cred.User)
		}
		if cred.Home != "" {
			env = append(env, "HOME="+cred.Home)
		}
		if cred.Shell != "" {
			env = append(env, "SHELL="+cred.Shell)
		}
	}
	env = append(env, "INVOCATION_ID="+hex.EncodeToString(id[:]))

	index := make(map[string]int, len(env))
	for i, kv := range env {
		index[kv[:strings.IndexByte(kv, '=')]] = i
	}
	for _, l := range lists {
		for _, kv := range l {
			k, _, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				continue
			}
			if i, dup := index[k]; dup {
				env[i] = kv
				continue
			}
			index[k] = len(env)
			env = append(env, kv)
		}
	}
	return env
}

// LookupCredential resolves User=, Group= and SupplementaryGroups= (names or
// numeric ids) as the C library would (internal/userdb). An empty user
// means sockd's own user, an empty group the user's primary group.
// The supplementary groups are the user's groups from the group database
// plus the extra ones. An unknown user or group is an error wrapping
// user.UnknownUserError or user.UnknownGroupError.
func LookupCredential(userName, groupName string, supplementary []string) (*Credential, error) {
	name := userName
	if name == "" {
		// Group= or SupplementaryGroups= alone: sockd's own user.
		name = strconv.Itoa(os.Getuid())
	}
	u, shell, known, err := lookupUser(name)
	if err != nil {
		return nil, fmt.Errorf("spawner: User=%s: %w", userName, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("spawner: User=%s: bad uid %q", userName, u.Uid)
	}
	c := &Credential{Uid: uint32(uid)}
	if userName != "" {
		// USER/HOME/SHELL are only set for User=, as in systemd.
		c.User, c.Home, c.Shell = u.Username, u.HomeDir, shell
	}
	gidStr := u.Gid
	if groupName != "" {
		g, err := lookupGroup(groupName)
		if err != nil {
			return nil, fmt.Errorf("spawner: Group=%s: %w", groupName, err)
		}
		gidStr = g.Gid
	}
	gid, err := strconv.ParseUint(gidStr, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("spawner: bad gid %q", gidStr)
	}
	c.Gid = uint32(gid)

	seen := map[uint32]bool{}
	add := func(s string) error {
		g, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return fmt.Errorf("bad gid %q", s)
		}
		if !seen[uint32(g)] {
			seen[uint32(g)] = true
			c.Groups = append(c.Groups, uint32(g))
		}
		return nil
	}
	// A numeric uid with no user entry has no groups to look up (systemd
	// runs it with its gid alone).
	var ids []string
	if known {
		ids, _ = userdb.GroupIds(u)
	}
	for _, id := range ids {
		if err := add(id); err != nil {
			return nil, fmt.Errorf("spawner: User=%s: %w", userName, err)
		}
	}
	for _, name := range supplementary {
		g, err := lookupGroup(name)
		if err != nil {
			return nil, fmt.Errorf("spawner: SupplementaryGroups=%s: %w", name, err)
		}
		if err := add(g.Gid); err != nil {
			return nil, fmt.Errorf("spawner: SupplementaryGroups=%s: %w", name, err)
		}
	}
	return c, nil
}

// lookupUser finds a user and its shell; known is false for a numeric id
// that has no entry, which systemd accepts.
func lookupUser(name string) (u *user.User, shell string, known bool, err error) {
	u, shell, err = userdb.LookupShell(name)
	if err == nil {
		return u, shell, true, nil
	}
	if _, perr := strconv.ParseUint(name, 10, 32); perr == nil {
		return &user.User{Uid: name, Gid: name, Username: name, HomeDir: "/"}, "", false, nil
	}
	return nil, "", false, err
}

func lookupGroup(name string) (*user.Group, error) {
	if _, err := strconv.ParseUint(name, 10, 32); err == nil {
		if g, err := userdb.LookupGroupId(name); err == nil {
			return g, nil
		}
		return &user.Group{Gid: name, Name: name}, nil
	}
	return userdb.LookupGroup(name)
}
