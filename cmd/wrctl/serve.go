package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/wrctl/wrctl/internal/app"
)

// serveOptions are serve's input: the settings, and how to name the flag
// of a setting at fault.
type serveOptions struct {
	IO       *factory
	Settings *app.Settings
	Named    func(error) error
}

func newServeCmd(f *factory, s *app.Settings, runF func(context.Context, *serveOptions) error) *cobra.Command {
	o := &serveOptions{IO: f, Settings: s}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the waiting room: the HTTP API and the granter",
		Long: `Run the waiting room: the HTTP API and the granter in one process.

With no configuration at all it runs on the embedded memory queue and memory
store: one replica, nothing to set up, sessions lost on restart. With
--queue sqs it admits from an SQS queue (FIFO keeps join order; create one
with 'wrctl queue create').

SIGINT or SIGTERM stops accepting requests, drains the ones in flight and
makes held queue messages visible again for other replicas.`,
		Example: `  # Embedded defaults on :8080
  wrctl serve

  # On SQS, with 500 people inside at once
  wrctl serve --queue sqs --queue-name wrctl-waiting.fifo --capacity 500

  # Against a local emulator or LocalStack, on a free port
  wrctl serve --addr 127.0.0.1:0 --queue sqs --queue-name wrctl-waiting.fifo \
    --sqs-endpoint http://127.0.0.1:4566

  # Per-event capacities and everything else from a file
  wrctl serve --config configs/wrctl.yaml`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := loadSettings(cmd, s); err != nil {
				return err
			}
			o.Named = func(err error) error { return settingsError(cmd, err) }
			return runOr(runF, serveRun)(cmd.Context(), o)
		},
	}
	serveFlags(cmd, s)
	return cmd
}

// loadSettings completes s, which loadKeys filled from the flags, WRCTL_*
// variables and the config file, with the file's events section, and
// checks it.
func loadSettings(cmd *cobra.Command, s *app.Settings) error {
	v, err := newViper(cmd)
	if err != nil {
		return err
	}
	if path := v.ConfigFileUsed(); path != "" {
		doc, err := os.ReadFile(path)
		if err != nil {
			return usagef("--config %s: %v", path, err)
		}
		if s.Events, err = app.ParseEvents(doc); err != nil {
			return usagef("--config %s: %v", path, err)
		}
	}
	return settingsError(cmd, s.Validate())
}

// serveRun runs the room the settings describe until SIGINT or SIGTERM.
func serveRun(ctx context.Context, o *serveOptions) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	s := *o.Settings
	log := s.Logger(o.IO.ErrOut)
	cfg, err := s.Config(log)
	if err != nil {
		return o.Named(err)
	}
	a, err := app.New(ctx, cfg)
	switch {
	case errors.Is(err, app.ErrListen):
		return usagef("--addr %s: %v", s.Addr, err)
	case errors.Is(err, app.ErrQueue) && s.QueueURL == "":
		return fmt.Errorf("--queue-name %s: %w (create it with 'wrctl queue create --name %s')", s.QueueName, err, s.QueueName)
	case errors.Is(err, app.ErrStore):
		return fmt.Errorf("--redis-addr %s: %w", strings.Join(s.RedisAddr, ","), err)
	case err != nil:
		return err
	}
	if s.Queue == "memory" && s.Store == "memory" {
		log.Info("running on the embedded defaults: memory queue and memory store (single replica only; sessions are lost on restart)")
	}
	queueDesc, storeDesc := s.Describe()
	log.Info("listening", "addr", a.Addr(), "queue", queueDesc, "store", storeDesc, "capacity", s.Capacity, "version", version)
	err = a.Run(ctx)
	log.Info("stopped")
	return err
}
