package cluster

import (
	"fmt"
	"maps"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Readdressed returns a copy of c whose addresses (the patroni list, the
// members' api and dsn, pooled_dsn, replica_dsn) reach their hosts through
// to: it gets each address's host and port and returns the host:port to
// use instead (a local port-forward). DSNs must be URLs
// (postgres://user@host:port/db); a port left out is the scheme's default
// (5432, 80 or 443).
func (c *Cluster) Readdressed(to func(scheme, host string, port int) (string, error)) (*Cluster, error) {
	out := *c
	out.Patroni = make([]string, len(c.Patroni))
	for i, u := range c.Patroni {
		v, err := readdress(u, to)
		if err != nil {
			return nil, fmt.Errorf("patroni[%d]: %w", i, err)
		}
		out.Patroni[i] = v
	}
	out.Members = maps.Clone(c.Members)
	for name, m := range out.Members {
		for field, addr := range map[string]*string{"api": &m.API, "dsn": &m.DSN} {
			if *addr == "" {
				continue
			}
			v, err := readdress(*addr, to)
			if err != nil {
				return nil, fmt.Errorf("members.%s.%s: %w", name, field, err)
			}
			*addr = v
		}
		out.Members[name] = m
	}
	for field, addr := range map[string]*string{"pooled_dsn": &out.PooledDSN, "replica_dsn": &out.ReplicaDSN} {
		if *addr == "" {
			continue
		}
		v, err := readdress(*addr, to)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", field, err)
		}
		*addr = v
	}
	return &out, nil
}

// defaultPorts are the ports of an address that gives none.
var defaultPorts = map[string]int{"http": 80, "https": 443, "postgres": 5432, "postgresql": 5432}

// readdress replaces the host and port of one URL.
func readdress(addr string, to func(scheme, host string, port int) (string, error)) (string, error) {
	u, err := url.Parse(addr)
	if err != nil || u.Host == "" {
		// (not quoted: a keyword/value DSN may hold a password)
		return "", fmt.Errorf("is not a URL with a host, which a port-forward needs: write it as scheme://host:port/... (e.g. postgres://user:pass@patroni-0:5432/db)")
	}
	if strings.Contains(u.Host, ",") {
		return "", fmt.Errorf("%q names several hosts: a port-forward reaches one; name a Service instead", redact(addr))
	}
	port, ok := defaultPorts[u.Scheme]
	if p := u.Port(); p != "" {
		if port, err = strconv.Atoi(p); err != nil {
			return "", fmt.Errorf("%q: bad port %q", redact(addr), p)
		}
	} else if !ok {
		return "", fmt.Errorf("%q gives no port", redact(addr))
	}
	hostport, err := to(u.Scheme, u.Hostname(), port)
	if err != nil {
		return "", err
	}
	if _, _, err := net.SplitHostPort(hostport); err != nil {
		return "", fmt.Errorf("%s: %w", u.Hostname(), err)
	}
	u.Host = hostport
	return u.String(), nil
}

// redact hides a URL's password in messages.
func redact(addr string) string {
	u, _ := url.Parse(addr) // addr parsed before
	return u.Redacted()
}
