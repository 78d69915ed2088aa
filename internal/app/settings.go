package app

import (
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/wrctl/wrctl/internal/room"
)

// Settings is a room's configuration as an operator writes it, in flags,
// WRCTL_* variables or the config file. Each field is one configuration
// key; its flag, default and description are `wrctl serve`'s (one table,
// in cmd/wrctl, written out in docs/configuration.md). Config turns it into
// what the room runs on.
type Settings struct {
	Addr            string
	PollInterval    time.Duration
	ShutdownTimeout time.Duration
	MaxConcurrent   int
	MaxHeld         int
	MaxConns        int
	MaxConnsPerAddr int

	Queue             string
	QueueURL          string
	QueueName         string
	GroupsPerEvent    int
	VisibilityTimeout time.Duration
	Region            string
	SQSEndpoint       string

	Store              string
	RedisAddr          []string
	RedisCluster       bool
	RedisUsername      string
	RedisPassword      string
	RedisDB            int
	RedisTLS           bool
	RedisTLSCAFile     string
	RedisTLSServerName string
	RedisPrefix        string

	Capacity          int
	HeartbeatTTL      time.Duration
	WaitingTTL        time.Duration
	MaxActive         time.Duration
	MaxWaiting        int
	NewUsersPerMinute int
	QueueingMethod    string
	QueueAll          bool
	UnknownEvents     string
	EndedRetention    time.Duration
	EventRetention    time.Duration
	TrustUserID       bool

	TokenSecret         string
	TokenKeyFile        string
	TokenAudience       string
	UserTokenSecret     string
	UserTokenKeyFile    string
	UserTokenIssuer     string
	UserTokenAudience   string
	AdminToken          string
	JoinRatePerIP       float64
	JoinBurstPerIP      int
	TrustedProxies      []string
	Upstream            string
	GateEvent           string
	GateRoutes          []string
	GateExclude         []string
	GateCaseInsensitive bool
	GateMaxConcurrent   int
	GateHeaderTimeout   time.Duration
	GateRecheck         time.Duration
	ReturnOrigins       []string
	PageTitle           string
	PageSiteName        string
	PageSiteURL         string
	PageMessage         string
	PageColor           string
	PageBackground      string
	PageTemplate        string
	LogLevel            string
	LogFormat           string

	// Events overrides room settings per event id; it is read from the
	// config file's events section (events.<id>.capacity) by ParseEvents.
	Events map[string]EventSettings
}

// Policies are the events' rules the settings describe.
func (s Settings) Policies() room.StaticPolicies {
	p := room.StaticPolicies{Default: room.Policy{Capacity: s.Capacity, HeartbeatTTL: s.HeartbeatTTL,
		WaitingTTL: s.WaitingTTL, MaxActive: s.MaxActive, MaxWaiting: s.MaxWaiting, NewUsersPerMinute: s.NewUsersPerMinute,
		Method: room.Method(s.QueueingMethod), QueueAll: s.QueueAll}}
	for id, e := range s.Events {
		if e.Settings != (room.Settings{}) {
			if p.Events == nil {
				p.Events = map[string]room.Settings{}
			}
			p.Events[id] = e.Settings
		}
	}
	return p
}

// Logger writes the logs the settings ask for to w.
func (s Settings) Logger(w io.Writer) *slog.Logger {
	level, _ := s.logLevel()
	opts := &slog.HandlerOptions{Level: level}
	if s.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Describe is the one-line summary of what the room runs on, for the log.
func (s Settings) Describe() (queueDesc, storeDesc string) {
	queueDesc, storeDesc = "memory", "memory"
	if s.Queue == "sqs" {
		queueDesc = s.QueueURL
		if queueDesc == "" {
			queueDesc = s.QueueName
		}
	}
	if s.Store == "redis" {
		storeDesc = "redis " + strings.Join(s.RedisAddr, ",") + " prefix " + s.RedisPrefix
	}
	return queueDesc, storeDesc
}

// gate is the gate the settings describe: nil without an upstream.
