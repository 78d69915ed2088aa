package accesstoken_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/wrctl/wrctl/accesstoken"
)

func TestWriteKeyFilesNeverOverwritesNorLeavesHalfAPair(t *testing.T) {
	dir := t.TempDir()
	priv, pub := filepath.Join(dir, "k.pem"), filepath.Join(dir, "k.pub.pem")
	if out, err := accesstoken.WriteKeyFiles(priv, pub); err != nil || out != nil {
		t.Fatalf("WriteKeyFiles = %q, %v", out, err)
	}
	st, err := os.Stat(priv)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("private key file: %v %v", st, err)
	}
	privPEM, _ := os.ReadFile(priv)
	pubPEM, _ := os.ReadFile(pub)
	key, err := accesstoken.ParsePrivateKey(privPEM)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := accesstoken.ParsePublicKey(pubPEM)
	if err != nil || !pk.Equal(key.Public()) {
		t.Fatalf("public key does not match the private key: %v", err)
	}

	var fe *accesstoken.KeyFileError
	if _, err := accesstoken.WriteKeyFiles(filepath.Join(dir, "new.pem"), pub); !errors.As(err, &fe) || fe.Path != pub {
		t.Fatalf("over an existing public key: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "new.pem")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a private key was written although its public key could not be")
	}
	if _, err := accesstoken.WriteKeyFiles(filepath.Join(dir, "missing", "k.pem"), filepath.Join(dir, "p.pem")); !errors.As(err, &fe) {
		t.Fatalf("into a missing directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "p.pem")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a public key was written although its private key could not be")
	}
	out, err := accesstoken.WriteKeyFiles(filepath.Join(dir, "solo.pem"), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := accesstoken.ParsePublicKey(out); err != nil {
		t.Fatalf("public key returned without --public-out: %v", err)
	}
}
