package redisstore_test

import (
	"bytes"
	"context"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func keysOn(t *testing.T, addr string) int64 {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	n, err := c.DBSize(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func pttl(t *testing.T, addr, key string) time.Duration {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	d, err := c.PTTL(context.Background(), key).Result()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// replyDropper is a TCP proxy in front of Redis that can lose one reply:
// the request reaches Redis and runs, the client sees the connection drop.
type replyDropper struct {
	addr    string
	target  string
	mu      sync.Mutex
	arm     string
	dropped atomic.Int64
}

func newReplyDropper(t *testing.T, target string) *replyDropper {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &replyDropper{addr: ln.Addr().String(), target: target}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

// dropNextReplyTo arms the proxy: the reply to the next request containing
// marker is lost and its connection closed.
func (p *replyDropper) dropNextReplyTo(marker string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.arm = marker
}

func (p *replyDropper) serve(c net.Conn) {
	defer c.Close()
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer up.Close()
	drop := make(chan struct{}, 1)
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := c.Read(buf)
			if err != nil {
				up.Close()
				return
			}
			p.mu.Lock()
			if p.arm != "" && bytes.Contains(bytes.ToLower(buf[:n]), []byte(strings.ToLower(p.arm))) {
				p.arm = ""
				drop <- struct{}{}
			}
			p.mu.Unlock()
			if _, err := up.Write(buf[:n]); err != nil {
				return
			}
		}
	}()
	buf := make([]byte, 64<<10)
	for {
		n, err := up.Read(buf)
		if err != nil {
			return
		}
		select {
		case <-drop:
			p.dropped.Add(1)
			return // the reply is lost with the connection
		default:
		}
		if _, err := c.Write(buf[:n]); err != nil {
			return
		}
	}
}
