package userdb

import (
	"os/exec"
	"os/user"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		line string
		ok   bool
		want user.User
	}{
		{"root:x:0:0:root:/root:/bin/bash", true, user.User{Username: "root", Uid: "0", Gid: "0", Name: "root", HomeDir: "/root"}},
		{"ldapuser:*:70001:70001:Ann Example,Room 1,,:/home/ann:/bin/zsh\n", true, user.User{Username: "ldapuser", Uid: "70001", Gid: "70001", Name: "Ann Example", HomeDir: "/home/ann"}},
		{"", false, user.User{}},
		{"a:x:1:2:g:/h", false, user.User{}},
		{"a:x:one:2:g:/h:/s", false, user.User{}},
		{":x:1:2:g:/h:/s", false, user.User{}},
	}
	for _, tt := range tests {
		u, ok := parsePasswd(tt.line)
		if ok != tt.ok || (ok && *u != tt.want) {
			t.Errorf("parsePasswd(%q) = %+v, %v; want %+v, %v", tt.line, u, ok, tt.want, tt.ok)
		}
	}
	for _, tt := range []struct {
		line string
		ok   bool
		want user.Group
	}{
		{"sudo:x:27:alice,bob", true, user.Group{Name: "sudo", Gid: "27"}},
		{"nogroup:x:65534:", true, user.Group{Name: "nogroup", Gid: "65534"}},
		{"bad:x:27", false, user.Group{}},
		{"bad:x:-1:", false, user.Group{}},
	} {
		g, ok := parseGroup(tt.line)
		if ok != tt.ok || (ok && *g != tt.want) {
			t.Errorf("parseGroup(%q) = %+v, %v; want %+v, %v", tt.line, g, ok, tt.want, tt.ok)
		}
	}
}

// The getent path gives the same answers as the files for users that are
// in both, and nothing for names that do not exist or could be options.
func TestGetent(t *testing.T) {
	if _, err := exec.LookPath("getent"); err != nil {
		t.Skip("no getent(1) on this machine")
	}
	u, ok := getentUser("root")
	if !ok || u.Uid != "0" || u.Username != "root" {
		t.Fatalf("getent passwd root = %+v, %v", u, ok)
	}
	if u, ok := getentUser("0"); !ok || u.Username != "root" {
		t.Errorf("getent passwd 0 = %+v, %v", u, ok)
	}
	if g, ok := getentGroup("root"); !ok || g.Gid != "0" {
		t.Errorf("getent group root = %+v, %v", g, ok)
	}
	for _, key := range []string{"no-such-user-sockd", "--help", "-s", "a:b", ""} {
		if u, ok := getentUser(key); ok {
			t.Errorf("getent passwd %q = %+v", key, u)
		}
	}
	ids, err := GroupIds(&user.User{Username: "root", Uid: "0", Gid: "0"})
	if err != nil || len(ids) == 0 || ids[0] != "0" {
		t.Errorf("GroupIds(root) = %v, %v", ids, err)
	}
}

func TestLookupUnknown(t *testing.T) {
	if _, err := Lookup("no-such-user-sockd"); err == nil {
		t.Error("found a user that does not exist")
	} else if _, ok := err.(user.UnknownUserError); !ok {
		t.Errorf("error %T %v, want user.UnknownUserError", err, err)
	}
	if _, err := LookupGroup("no-such-group-sockd"); err == nil {
		t.Error("found a group that does not exist")
	}
	if u, err := LookupId("0"); err != nil || u.Username != "root" {
		t.Errorf("LookupId(0) = %+v, %v", u, err)
	}
	if g, err := LookupGroupId("0"); err != nil || g.Name != "root" {
		t.Errorf("LookupGroupId(0) = %+v, %v", g, err)
	}
}

func TestLookupShell(t *testing.T) {
	u, sh, err := LookupShell("root")
	if err != nil || u.Uid != "0" || sh == "" {
		t.Errorf("LookupShell(root) = %+v, %q, %v", u, sh, err)
	}
	if u, _, err := LookupShell("0"); err != nil || u.Username != "root" {
		t.Errorf("LookupShell(0) = %+v, %v", u, err)
	}
	if _, _, err := LookupShell("no-such-user-sockd"); err == nil {
		t.Error("found a user that does not exist")
	}
}
