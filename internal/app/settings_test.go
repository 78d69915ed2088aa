package app_test

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wrctl/wrctl/accesstoken"
	"github.com/wrctl/wrctl/internal/app"
	"github.com/wrctl/wrctl/internal/room"
)

// settings are the defaults `wrctl serve` starts from.
func settings() app.Settings {
	return app.Settings{
		Addr: "127.0.0.1:0", PollInterval: 2 * time.Second, ShutdownTimeout: 10 * time.Second,
		Queue: "memory", GroupsPerEvent: 8, VisibilityTimeout: 30 * time.Second, Store: "memory", RedisPrefix: "wrctl",
		Capacity: 100, HeartbeatTTL: 30 * time.Second, WaitingTTL: time.Minute, MaxActive: 15 * time.Minute,
		UnknownEvents: "accept", EndedRetention: 10 * time.Minute, EventRetention: 10 * time.Minute,
		JoinBurstPerIP: 10, LogLevel: "info", LogFormat: "text",
	}
}

func TestSettingsValidateNamesEveryKeyAtFault(t *testing.T) {
	s := settings()
	s.Capacity, s.WaitingTTL, s.TrustedProxies = 0, time.Second, []string{"10.0.0.0/8", "not-a-cidr"}
	s.Events = map[string]app.EventSettings{"VIP": {Settings: room.Settings{Capacity: -1}}}
	var fes app.FieldErrors
	if err := s.Validate(); !errors.As(err, &fes) {
		t.Fatalf("Validate = %v, want FieldErrors", err)
	}
	var keys []string
	for _, e := range fes {
		keys = append(keys, e.Key)
	}
	if got := strings.Join(keys, " "); got != "limits.trustedProxies room.capacity room.waitingTTL events.VIP" {
		t.Fatalf("keys at fault = %s", got)
	}
	if err := settings().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
}

// TestEventSectionTakesEverySettingByName: the config file's events
// section reads each per-event setting by its one name, and refuses an
// unknown key, a bad value, or a zero that would quietly keep the room's.
func TestEventSectionTakesEverySettingByName(t *testing.T) {
	var doc strings.Builder
	doc.WriteString("events:\n  E:\n    public: true\n")
	for _, s := range room.Table() {
		v := map[room.Kind]string{room.KindCount: "7", room.KindDuration: "90s", room.KindSwitch: "true", room.KindMethod: "random",
			room.KindText: "Sold out", room.KindTime: "2026-12-01T18:00:00Z"}[s.Kind]
		fmt.Fprintf(&doc, "    %s: %s\n", s.Name, v)
	}
	evs, err := app.ParseEvents([]byte(doc.String()))
	if err != nil {
		t.Fatal(err)
	}
	e := evs["E"]
	if !e.Public || len(e.Overrides()) != len(room.Table()) {
		t.Fatalf("public %v, settings read %v", e.Public, e.Overrides())
	}
	_, err = app.ParseEvents([]byte("events:\n  E:\n    capcity: 5\n    capacity: 0\n    waitingTTL: soon\n"))
	var fes app.FieldErrors
	if !errors.As(err, &fes) || len(fes) != 3 || fes[0].Key != "events.E.capacity" || fes[1].Key != "events.E.capcity" || fes[2].Key != "events.E.waitingTTL" {
		t.Fatalf("bad section: %v", err)
	}
}

func TestSettingsConfigReadsTheKeyFiles(t *testing.T) {
	dir := t.TempDir()
	signer, err := accesstoken.GenerateEd25519Signer()
	if err != nil {
		t.Fatal(err)
	}
	priv, _ := accesstoken.MarshalPrivateKey(signer.PrivateKey())
	pub, _ := accesstoken.MarshalPublicKey(signer.PublicKey())
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	privFile, pubFile, junk := write("k.pem", priv), write("k.pub.pem", pub), write("junk.pem", []byte("junk"))

	s := settings()
	s.TokenKeyFile, s.UserTokenKeyFile, s.TrustedProxies = privFile, pubFile, []string{"10.1.2.3"}
	cfg, err := s.Config(slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Signer == nil || cfg.Signer.Algorithm() != "EdDSA" || !cfg.Signer.PublicKey().Equal(signer.PublicKey()) || cfg.UserTokens == nil || !cfg.UserTokens.PublicKey.Equal(signer.PublicKey()) {
		t.Fatalf("signer %v, user tokens %+v", cfg.Signer, cfg.UserTokens)
	}
	if p := cfg.Server.TrustedProxies; len(p) != 1 || p[0].String() != "10.1.2.3/32" {
		t.Fatalf("trusted proxies = %v", p)
	}

	for _, c := range []struct {
		key string
		set func(*app.Settings)
	}{
		{"token.ed25519KeyFile", func(s *app.Settings) { s.TokenKeyFile = junk }},
		{"token.ed25519KeyFile", func(s *app.Settings) { s.TokenKeyFile = filepath.Join(dir, "missing.pem") }},
		{"userToken.publicKeyFile", func(s *app.Settings) { s.UserTokenKeyFile = junk }},
		{"store.redis.tlsCAFile", func(s *app.Settings) {
			s.Queue, s.QueueName, s.Store, s.RedisAddr, s.RedisTLS, s.RedisTLSCAFile = "sqs", "q.fifo", "redis", []string{"127.0.0.1:6379"}, true, junk
		}},
	} {
		s := settings()
		c.set(&s)
		var fe *app.FieldError
		if _, err := s.Config(nil); !errors.As(err, &fe) || fe.Key != c.key {
			t.Errorf("%s: Config = %v, want a FieldError for it", c.key, err)
		}
	}
}
