package units

// Load-time checks. Each mirrors a refusal (or warning) of systemd's
// socket_verify()/service_verify() (src/core/socket.c, service.c, v252),
// with the messages systemd-analyze verify prints.

// validateSocket reports whether the socket can be loaded.
func validateSocket(b *builder, s *Socket) bool {
	ok := true
	if len(s.Listeners) == 0 {
		b.unitError(Pos{}, "", "unit has no Listen setting (ListenStream=, ListenDatagram=, ListenFIFO=, ...), refusing")
		return false
	}
	if s.Accept {
		for _, l := range s.Listeners {
			if l.Kind != ListenStream && l.Kind != ListenSequentialPacket {
				b.unitError(l.Pos, "Accept", "unit configured for accepting sockets, but sockets are non-accepting (%s=%s), refusing", listenKey(l.Kind), l.Text)
				ok = false
				break
			}
		}
		if s.MaxConnections == 0 {
			b.unitError(b.maxConnPos, "MaxConnections", "MaxConnections= setting too small, refusing")
			ok = false
		}
		if b.servicePos.File != "" {
			b.unitError(b.servicePos, "Service", "explicit service configuration for accepting socket units not supported, refusing")
			ok = false
		}
		if s.DeferTrigger != "" {
			b.unitError(b.deferTriggerPos, "DeferTrigger", "DeferTrigger= cannot be used with Accept=yes, refusing")
			ok = false
		}
	} else if s.MaxConnections == 0 {
		// systemd 252 accepts this (the value is unused without Accept=yes);
		// newer versions refuse it.
		b.unitWarning(b.maxConnPos, "MaxConnections", "MaxConnections=0 is refused by systemd >= 254; it has no effect with Accept=no")
	}
	if len(s.Symlinks) > 0 {
		n := 0
		for _, l := range s.Listeners {
			if l.Addr.Family == FamilyUnix || l.Kind == ListenFIFO {
				n++
			}
		}
		if n != 1 {
			b.unitError(b.symlinksPos, "Symlinks", "unit has symlinks set but %s node in the file system (need exactly one AF_UNIX path socket or FIFO), refusing",
				map[bool]string{true: "no", false: "more than one"}[n == 0])
			ok = false
		}
	}
	if s.Options.DeferAccept > 0 {
		tcp := false
		for _, l := range s.Listeners {
			if l.Kind == ListenStream && (l.Addr.Family == FamilyInet || l.Addr.Family == FamilyInet6 || l.Addr.Family == FamilyInet6Any) {
				tcp = true
			}
		}
		if !tcp {
			b.unitWarning(b.deferAcceptPos, "DeferAcceptSec", "only applies to TCP stream listeners, ignoring")
		}
	}
	warnMissingPrograms(b)
	return ok
}

func listenKey(k ListenKind) string {
	return [...]string{"ListenStream", "ListenDatagram", "ListenSequentialPacket", "ListenFIFO", "ListenSpecial",
		"ListenNetlink", "ListenMessageQueue", "ListenUSBFunction"}[k]
}

// validateService reports whether the service can be loaded.
func validateService(b *builder, s *Service) bool {
	hasStart, hasStop := len(s.ExecStart) > 0, len(s.ExecStop) > 0
	switch {
	case !hasStart && !hasStop:
		b.unitError(Pos{}, "ExecStart", "service has no ExecStart=, ExecStop=, or SuccessAction=, refusing")
		return false
	case s.Type != TypeOneshot && !hasStart:
		b.unitError(Pos{}, "ExecStart", "service has no ExecStart= setting, which is only allowed for Type=oneshot services, refusing")
		return false
	case !s.RemainAfterExit && !hasStart:
		b.unitError(Pos{}, "ExecStart", "service has no ExecStart= and does not have RemainAfterExit=yes set, refusing")
		return false
	case s.Type != TypeOneshot && len(s.ExecStart) > 1:
		b.unitError(s.ExecStart[1].Pos, "ExecStart", "service has more than one ExecStart= setting, which is only allowed for Type=oneshot services, refusing")
		return false
	case s.Type == TypeOneshot && (s.Restart == RestartAlways || s.Restart == RestartOnSuccess):
		b.unitError(Pos{}, "Restart", "Restart= set to either always or on-success, which isn't allowed for Type=oneshot services, refusing")
		return false
	case s.Type == TypeDBus && s.BusName == "":
		b.unitError(Pos{}, "Type", "service is of type D-Bus but no D-Bus service name has been specified, refusing")
		return false
	}
	warnMissingPrograms(b)
	return true
}

// warnMissingPrograms reports Exec*= programs that do not exist here. It is
// only a warning: the unit may be verified on another machine, and systemd
// itself only fails when the command runs.
func warnMissingPrograms(b *builder) {
	for _, m := range b.missingPrograms {
		b.diags = append(b.diags, Diagnostic{Pos: m.pos, Severity: Warning, Unit: b.name, Directive: m.key,
			Msg: "command " + m.path + " is not executable: no such file"})
	}
}
