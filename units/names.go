package units

import (
	"fmt"
	"strings"
)

// MaxUnitNameLength is systemd's UNIT_NAME_MAX minus the NUL byte.
const MaxUnitNameLength = 255

// unitTypes are the suffixes systemd accepts in a unit name. sockd only loads
// .socket and .service files, but Service=/After= may name any type.
var unitTypes = map[string]bool{
	"service": true, "mount": true, "swap": true, "socket": true, "target": true,
	"device": true, "automount": true, "timer": true, "path": true, "slice": true, "scope": true,
}

func validNameChar(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' ||
		c == ':' || c == '-' || c == '_' || c == '.' || c == '\\'
}

// NameKind says what kind of unit name a string is.
type NameKind int

// Unit name kinds.
const (
	NameInvalid  NameKind = iota
	NamePlain             // foo.service
	NameTemplate          // foo@.service
	NameInstance          // foo@bar.service
)

// ParseUnitName checks a unit name as systemd's unit_name_is_valid() does
// and splits it into prefix ("foo"), instance ("bar", "" for plain names and
// templates) and type ("service").
func ParseUnitName(name string) (kind NameKind, prefix, instance, typ string) {
	if len(name) == 0 || len(name) > MaxUnitNameLength {
		return NameInvalid, "", "", ""
	}
	dot := strings.LastIndexByte(name, '.')
	if dot <= 0 || !unitTypes[name[dot+1:]] {
		return NameInvalid, "", "", ""
	}
	typ = name[dot+1:]
	at := -1
	for i := 0; i < dot; i++ {
		c := name[i]
		if c == '@' {
			if at < 0 {
				at = i
			}
			continue
		}
		if !validNameChar(c) {
			return NameInvalid, "", "", ""
		}
	}
	switch {
	case at == 0:
		return NameInvalid, "", "", ""
	case at < 0:
		return NamePlain, name[:dot], "", typ
	case at+1 == dot:
		return NameTemplate, name[:at], "", typ
	}
	// systemd allows a second '@' only inside the instance.
	if strings.IndexByte(name[:at], '@') >= 0 {
		return NameInvalid, "", "", ""
	}
	return NameInstance, name[:at], name[at+1 : dot], typ
}

// TemplateOf returns the template a unit instance is loaded from
// ("foo@bar.service" → "foo@.service"), or "" when name is no instance.
func TemplateOf(name string) string {
	kind, prefix, _, typ := ParseUnitName(name)
	if kind != NameInstance {
		return ""
	}
	return prefix + "@." + typ
}

// InstanceName builds "foo@INSTANCE.service" from the template
// "foo@.service" and checks the result.
func InstanceName(template, instance string) (string, error) {
	kind, prefix, _, typ := ParseUnitName(template)
	if kind != NameTemplate {
		return "", fmt.Errorf("%q is not a unit template", template)
	}
	name := prefix + "@" + instance + "." + typ
	if k, _, _, _ := ParseUnitName(name); k != NameInstance {
		return "", fmt.Errorf("instance %q of %q gives an invalid unit name", instance, template)
	}
	return name, nil
}

// unitType returns the type suffix of a valid unit name.
func unitType(name string) string {
	_, _, _, typ := ParseUnitName(name)
	return typ
}

// unitStem is the name without its type suffix ("foo@bar").
func unitStem(name string) string {
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		return name[:i]
	}
	return name
}
