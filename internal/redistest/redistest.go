// Package redistest starts real redis-server processes on free 127.0.0.1
// ports for tests: a single node, or a three-node Redis Cluster.
package redistest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is one running redis-server.
type Server struct {
	Addr string
	port int
	dir  string
	args []string
	cmd  *exec.Cmd
}

// binary finds redis-server, or says how to get it.
func binary(name string) (string, error) {
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s not found: `make test` installs Debian's redis-server (apt-get install redis-server)", name)
	}
	return p, nil
}

// freePort returns a port free on 127.0.0.1 whose cluster bus port
// (port+10000) is free too.
func freePort() (int, error) {
	for range 50 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if port+10000 > 65535 {
			continue
		}
		bus, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port+10000))
		if err != nil {
			continue
		}
		bus.Close()
		return port, nil
	}
	return 0, errors.New("no free port pair for redis")
}

// Start starts a redis-server in dir with extra arguments.
func Start(dir string, extra ...string) (*Server, error) {
	bin, err := binary("redis-server")
	if err != nil {
		return nil, err
	}
	var lastErr error
	for range 5 { // a port taken between the probe and the bind: try another
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		s := &Server{Addr: fmt.Sprintf("127.0.0.1:%d", port), port: port, dir: dir}
		s.args = append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--dir", dir, "--daemonize", "no", "--loglevel", "warning"}, extra...)
		if err := s.start(bin); err != nil {
			lastErr = err
			continue
		}
		return s, nil
	}
	return nil, lastErr
}

func (s *Server) start(bin string) error {
	cmd := exec.Command(bin, s.args...)
	cmd.Dir = s.dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-exited:
			return fmt.Errorf("redis-server on %s exited: %s", s.Addr, strings.TrimSpace(out.String()))
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			s.cmd = cmd
			return nil
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-exited
			return fmt.Errorf("redis-server on %s did not answer: %v", s.Addr, err)
		}
		time.Sleep(20 * time.Millisecond) // polling for readiness
	}
}

// Stop kills the server (as an outage would); data not saved is lost.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	s.cmd.Process.Kill()
	s.cmd.Process.Wait()
	s.cmd = nil
}

// Restart starts the server again on the same port.
func (s *Server) Restart() error {
	bin, err := binary("redis-server")
	if err != nil {
		return err
	}
	return s.start(bin)
}

// New starts a single node for tb, stopped by tb.Cleanup.
func New(tb testing.TB) *Server {
	tb.Helper()
	s, err := Start(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Stop)
	return s
}

// Cluster is a running Redis Cluster.
type Cluster struct {
	Nodes []*Server
}

// Addrs returns the nodes' addresses.
func (c *Cluster) Addrs() []string {
	var out []string
	for _, n := range c.Nodes {
		out = append(out, n.Addr)
	}
	return out
}

// Stop stops every node.
func (c *Cluster) Stop() {
	for _, n := range c.Nodes {
		n.Stop()
	}
}

// StartCluster starts three cluster-enabled nodes in dir and joins them
// with redis-cli --cluster create, then waits for cluster_state:ok.
func StartCluster(dir string) (*Cluster, error) {
	cli, err := binary("redis-cli")
	if err != nil {
		return nil, err
	}
	c := &Cluster{}
	for i := range 3 {
		nd := filepath.Join(dir, "node"+strconv.Itoa(i))
		if err := os.MkdirAll(nd, 0o755); err != nil {
			return nil, err
		}
		n, err := Start(nd, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000")
		if err != nil {
			c.Stop()
			return nil, err
		}
		c.Nodes = append(c.Nodes, n)
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	out, err := exec.Command(cli, args...).CombinedOutput()
	if err != nil {
		c.Stop()
		return nil, fmt.Errorf("redis-cli --cluster create: %v: %s", err, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, n := range c.Nodes {
		rc := redis.NewClient(&redis.Options{Addr: n.Addr})
		for {
			info, err := rc.ClusterInfo(context.Background()).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				rc.Close()
				c.Stop()
				return nil, fmt.Errorf("cluster not ok on %s: %v %s", n.Addr, err, info)
			}
			time.Sleep(50 * time.Millisecond) // polling for cluster state
		}
		rc.Close()
	}
	return c, nil
}

// NewCluster starts a cluster for tb, stopped by tb.Cleanup.
func NewCluster(tb testing.TB) *Cluster {
	tb.Helper()
	c, err := StartCluster(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.Stop)
	return c
}
