// Package etcd runs etcd embedded in the kenv process.
package etcd

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// Config says where etcd listens and keeps its data.
type Config struct {
	ClientURL string
	PeerURL   string
	DataDir   string
	LogPath   string
	// StartTimeout bounds the wait for etcd to be ready to serve.
	StartTimeout time.Duration
}

// memberName names kenv's one member.
const memberName = "kenv"

// Server is a running embedded etcd.
type Server struct {
	etcd *embed.Etcd
}

// Start starts etcd and returns once it serves clients. Data in DataDir from
// an earlier run is kept.
func Start(ctx context.Context, c Config) (*Server, error) {
	client, err := url.Parse(c.ClientURL)
	if err != nil {
		return nil, fmt.Errorf("etcd client URL: %w", err)
	}
	peer, err := url.Parse(c.PeerURL)
	if err != nil {
		return nil, fmt.Errorf("etcd peer URL: %w", err)
	}
	cfg := embed.NewConfig()
	cfg.Name = memberName
	cfg.Dir = c.DataDir
	cfg.ListenClientUrls = []url.URL{*client}
	cfg.AdvertiseClientUrls = []url.URL{*client}
	cfg.ListenPeerUrls = []url.URL{*peer}
	cfg.AdvertisePeerUrls = []url.URL{*peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	// One member on loopback elects itself after an election timeout: at
	// etcd's defaults (ticks of 100 ms, 1 s) that was 0.2 to 1 s of every
	// start here, at 20 ms and 200 ms 30 to 170 ms. It has no peer to wait
	// for; the faster ticks cost under 1% of a core.
	cfg.TickMs, cfg.ElectionMs = 20, 200
	cfg.LogLevel = "warn"
	cfg.LogOutputs = []string{c.LogPath}

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("start etcd: %w", err)
	}
	timeout := c.StartTimeout
	if timeout == 0 {
		timeout = time.Minute
	}
	select {
	case <-e.Server.ReadyNotify():
		return &Server{etcd: e}, nil
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("start etcd: %w", err)
	case <-time.After(timeout):
		e.Close()
		return nil, fmt.Errorf("start etcd: not ready after %s; see %s", timeout, c.LogPath)
	case <-ctx.Done():
		e.Close()
		return nil, ctx.Err()
	}
}

// Err reports a failure of the running server.
func (s *Server) Err() <-chan error { return s.etcd.Err() }

// Close stops etcd and waits until its data is on disk.
func (s *Server) Close() { s.etcd.Close() }
