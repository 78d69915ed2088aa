package main

import (
	"context"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"
)

// configKeys is every configuration key and the flags that set it: the one
// table behind flags, the config file and WRCTL_* variables. A flag is
// "name" on any command that has it, or "command:name" on that command
// only; the first flag is the one error messages name.
var configKeys = map[string][]string{
	"client.server": {"server"},

	"server.addr":            {"serve:addr"},
	"server.pollInterval":    {"serve:poll-interval"},
	"server.shutdownTimeout": {"serve:shutdown-timeout"},
	"server.maxConcurrent":   {"serve:max-concurrent-requests"},
	"server.maxConns":        {"serve:max-conns"},
	"server.maxConnsPerAddr": {"serve:max-conns-per-addr"},

	"queue.backend":           {"serve:queue"},
	"queue.url":               {"queue-url"},
	"queue.name":              {"queue-name", "create:name"},
	"queue.visibilityTimeout": {"visibility-timeout"},
	"queue.fifo":              {"create:fifo"},
	"queue.dlqName":           {"create:dlq-name"},
	"queue.maxReceiveCount":   {"create:max-receive-count"},
	"queue.retention":         {"create:retention"},
	"queue.highThroughput":    {"create:high-throughput"},
	"aws.region":              {"region"},
	"aws.endpoint":            {"sqs-endpoint"},

	"store.backend":             {"serve:store"},
	"store.redis.addr":          {"serve:redis-addr"},
	"store.redis.cluster":       {"serve:redis-cluster"},
	"store.redis.username":      {"serve:redis-username"},
	"store.redis.password":      {"serve:redis-password"},
	"store.redis.db":            {"serve:redis-db"},
	"store.redis.tls":           {"serve:redis-tls"},
	"store.redis.tlsCAFile":     {"serve:redis-tls-ca-file"},
	"store.redis.tlsServerName": {"serve:redis-tls-server-name"},
	"store.redis.prefix":        {"serve:redis-prefix"},

	"room.capacity":       {"serve:capacity"},
	"room.heartbeatTTL":   {"serve:heartbeat-ttl"},
	"room.waitingTTL":     {"serve:waiting-ttl"},
	"room.maxActive":      {"serve:max-active"},
	"room.maxWaiting":     {"serve:max-waiting"},
	"room.unknownEvents":  {"serve:unknown-events"},
	"room.trustUserId":    {"serve:trust-user-id"},
	"room.endedRetention": {"serve:ended-retention"},
	"room.eventRetention": {"serve:event-retention"},

	"token.secret":            {"serve:token-secret", "verify:secret"},
	"token.ed25519KeyFile":    {"serve:token-key-file"},
	"token.audience":          {"serve:token-audience", "verify:audience"},
	"userToken.secret":        {"serve:user-token-secret"},
	"userToken.publicKeyFile": {"serve:user-token-key-file"},
	"userToken.issuer":        {"serve:user-token-issuer"},
	"userToken.audience":      {"serve:user-token-audience"},

	"admin.token":           {"admin-token"},
	"limits.joinRatePerIP":  {"serve:join-rate-per-ip"},
	"limits.joinBurstPerIP": {"serve:join-burst-per-ip"},
	"limits.trustedProxies": {"serve:trusted-proxies"},
	"log.level":             {"serve:log-level"},
	"log.format":            {"serve:log-format"},
}

// envAliases are documented short environment names, read first.
var envAliases = map[string][]string{
	"client.server": {"WRCTL_SERVER"},
}

// flagOf returns the flag behind key on cmd, if it has one.
func flagOf(cmd *cobra.Command, key string) string {
	for _, f := range configKeys[key] {
		name := f
		if c, n, ok := strings.Cut(f, ":"); ok {
			if c != cmd.Name() {
				continue
			}
			name = n
		}
		if cmd.Flags().Lookup(name) != nil {
			return name
		}
	}
	return ""
}

// flagFor names the flag behind a key of serve's, for error messages.
func flagFor(key string) string {
	if fs := configKeys[key]; len(fs) > 0 {
		_, name, ok := strings.Cut(fs[0], ":")
		if !ok {
			name = fs[0]
		}
		return "--" + name + " (" + key + ")"
	}
	return key
}

type viperKey struct{}

// newViper returns the run's viper: built once per command run, with every
// key bound to the command's flag (if it has one) and its WRCTL_* names,
// then the config file read and checked for unknown keys. One per run, so
// flags of the same name on different commands never clobber each other
// (spf13/viper#233) and the config file is read once.
func newViper(cmd *cobra.Command) (*viper.Viper, error) {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background() // a command not run through Execute (tests)
	}
	if v, ok := ctx.Value(viperKey{}).(*viper.Viper); ok {
		return v, nil
	}
	v := viper.New()
	for key := range configKeys {
		if name := flagOf(cmd, key); name != "" {
			if err := v.BindPFlag(key, cmd.Flags().Lookup(name)); err != nil {
				return nil, err
			}
		}
		if err := v.BindEnv(append(append([]string{key}, envAliases[key]...), envNames(key)...)...); err != nil {
			return nil, err
		}
	}
	path, _ := cmd.Flags().GetString("config")
	if path == "" {
		path = os.Getenv("WRCTL_CONFIG")
	}
	if path != "" {
		v.SetConfigFile(path)
		if err := v.ReadInConfig(); err != nil {
			return nil, usagef("--config %s: %v", path, err)
		}
		// Every command refuses a key no command reads: a typo in a
		// client's config must not pass silently either.
		if err := unknownKeys(v); err != nil {
			return nil, err
		}
	}
	cmd.SetContext(context.WithValue(ctx, viperKey{}, v))
	return v, nil
}
