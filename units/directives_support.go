package units

// supported lists the directives whose behaviour sockd implements and tests
// (activator, spawner, supervisor), as "Section.Name". Every other parsed
// directive is "parsed": read and validated, not acted on yet. Keep this
// list true: a name goes here with the test that proves it.
var supported = map[string]bool{}

func init() {
	for _, names := range [][]string{
		// activator: binding and options (activator/*_test.go).
		{"Socket", "ListenStream", "ListenDatagram", "ListenSequentialPacket", "ListenFIFO", "ListenSpecial",
			"ListenNetlink", "ListenMessageQueue", "Backlog", "BindIPv6Only", "BindToDevice", "Broadcast",
			"DeferAcceptSec", "DirectoryMode", "FreeBind", "IPTOS", "IPTTL", "KeepAlive", "KeepAliveIntervalSec",
			"KeepAliveProbes", "KeepAliveTimeSec", "Mark", "NoDelay", "PassCredentials", "PassPacketInfo",
			"PassSecurity", "PipeSize", "Priority", "ReceiveBuffer", "SendBuffer", "ReusePort", "SocketUser",
			"SocketGroup", "SocketMode", "SocketProtocol", "Symlinks", "RemoveOnStop", "TCPCongestion",
			"Timestamping", "Transparent", "Writable", "MessageQueueMaxMessages", "MessageQueueMessageSize",
			// supervisor: activation (supervisor/*_test.go).
			"Accept", "Service", "FileDescriptorName", "MaxConnections", "MaxConnectionsPerSource",
			"TriggerLimitIntervalSec", "TriggerLimitBurst", "PollLimitIntervalSec", "PollLimitBurst", "FlushPending",
			// the socket's own helpers (sockexec_test.go).
			"ExecStartPre", "ExecStartPost", "ExecStopPre", "ExecStopPost", "PassFileDescriptorsToExec", "TimeoutSec"},
		// supervisor and spawner: the service's life (lifecycle_test.go,
		// notify_test.go, control_test.go, spawner tests).
		{"Service", "Type", "ExecStart", "ExecReload", "ExecStartPre", "ExecStartPost", "ExecCondition", "ExecStop", "ExecStopPost",
			"RemainAfterExit", "PIDFile", "Restart", "RestartSec", "RestartSteps", "RestartMaxDelaySec",
			"RestartPreventExitStatus", "RestartForceExitStatus", "SuccessExitStatus", "TimeoutSec",
			"TimeoutStartSec", "TimeoutStopSec", "WatchdogSec", "NotifyAccess", "FileDescriptorStoreMax",
			"FileDescriptorStorePreserve", "KillMode", "KillSignal", "FinalKillSignal", "SendSIGHUP", "SendSIGKILL",
			"RestartKillSignal", "Sockets", "NonBlocking", "User", "Group", "SupplementaryGroups",
			"WorkingDirectory", "Environment", "EnvironmentFile", "UMask", "Nice", "NoNewPrivileges",
			"StandardInput", "StandardOutput", "StandardError", "StartLimitIntervalSec", "StartLimitBurst",
			"StartLimitInterval",
			"LimitAS", "LimitCORE", "LimitCPU", "LimitDATA", "LimitFSIZE", "LimitLOCKS", "LimitMEMLOCK",
			"LimitMSGQUEUE", "LimitNICE", "LimitNOFILE", "LimitNPROC", "LimitRSS", "LimitRTPRIO", "LimitRTTIME",
			"LimitSIGPENDING", "LimitSTACK"},
		{"Unit", "StartLimitIntervalSec", "StartLimitBurst", "StartLimitInterval"},
	} {
		for _, n := range names[1:] {
			supported[names[0]+"."+n] = true
		}
	}
}

// markSupported flips the status of implemented directives.
func (t directiveTable) markSupported() {
	for key, d := range t {
		if supported[key] && d.Status == StatusParsed {
			d.Status = StatusSupported
		}
	}
}
