package config

import (
	"fmt"
	"net"
	"time"
)

// SyncSetting reads Bus.Sync: always, or the background interval. An empty
// value (an external bus) is neither: the servers' own settings apply.
func (b Bus) SyncSetting() (always bool, interval time.Duration, err error) {
	switch b.Sync {
	case "":
		return false, 0, nil
	case "always":
		return true, 0, nil
	}
	d, err := time.ParseDuration(b.Sync)
	if err != nil || d <= 0 {
		return false, 0, fmt.Errorf("bus.sync: %q is not always or a positive duration (e.g. 1s, 2m)", b.Sync)
	}
	return false, d, nil
}

func (b Bus) validate() error {
	if b.Listen != "" {
		host, _, err := net.SplitHostPort(b.Listen)
		if err != nil {
			return fmt.Errorf("bus.listen: %q is not host:port", b.Listen)
		}
		if b.URL != "" {
			return fmt.Errorf("bus.listen: only applies to the embedded bus, but bus.url is set")
		}
		if !b.ListenRemote && !isLoopback(host) {
			return fmt.Errorf("bus.listen: %q is not a loopback address, so other machines could reach the bus; set bus.listen_remote: true to allow it (clients then need the bus credentials)", b.Listen)
		}
	}
	if b.ListenRemote && b.Listen == "" {
		return fmt.Errorf("bus.listen_remote: only applies with bus.listen")
	}
	if (b.User == "") != (b.Password == "") {
		return fmt.Errorf("bus.user: give both bus.user and bus.password, or neither (weir then generates them)")
	}
	if b.User != "" && b.Listen == "" {
		return fmt.Errorf("bus.user: only applies with bus.listen (an external bus takes bus.creds_file)")
	}
	if b.Password != "" && len(b.Password) < 16 {
		return fmt.Errorf("bus.password: must be at least 16 characters")
	}
	if b.Sync != "" && b.URL != "" {
		return fmt.Errorf("bus.sync: only applies to the embedded bus; each server of an external cluster has its own sync setting (sync_interval in its jetstream block)")
	}
	_, _, err := b.SyncSetting()
	return err
}

// isLoopback reports whether a listen host is reachable from this machine
// only. An empty host listens on every interface.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
