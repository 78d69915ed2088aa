package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/wrctl/wrctl/accesstoken"
	"github.com/wrctl/wrctl/internal/api"
	"github.com/wrctl/wrctl/internal/printer"
)

func newTokenCmd(f *factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Verify access tokens and make signing keys",
		Long: `Access tokens are the JWTs an ACTIVE session carries. The protected site
verifies them without calling the waiting room back: with the shared HS256
secret, or with the Ed25519 public key the room publishes at
/.well-known/jwks.json (the Go package github.com/wrctl/wrctl/accesstoken does
it as net/http middleware).`,
		Example: `  wrctl token keygen --out token.pem --public-out token.pub.pem
  wrctl token verify "$token" --public-key token.pub.pem
  wrctl token verify "$token" --server https://room.example.com`,
	}
	cmd.AddCommand(newTokenVerifyCmd(f, nil), newTokenKeygenCmd(f, nil))
	return cmd
}

// verifyOptions are token verify's input.
type verifyOptions struct {
	clientOptions
	Token                                    string
	secret, audience, publicKey, jwks, event string
}

func newTokenVerifyCmd(f *factory, runF func(context.Context, *verifyOptions) error) *cobra.Command {
	o := &verifyOptions{clientOptions: clientOptions{IO: f}}
	cmd := &cobra.Command{
		Use:   "verify TOKEN",
		Short: "Check an access token and print its claims",
		Long: `Check an access token's signature, issuer and expiry, and print its claims.

The key comes from --secret (or WRCTL_TOKEN_SECRET) for HS256, --public-key for
an Ed25519 PEM public key, --jwks for a key set URL, or else the key set of
--server. Exits 0 when the token is valid and 7 when it is not.` + exitCodes(exitOK, exitFailure, exitUsage, exitUnavailable, exitInvalidToken),
		Example: `  wrctl token verify "$token"
  WRCTL_TOKEN_SECRET=... wrctl token verify "$token" --event launch-2026 --output json
  wrctl token keygen --out token.pem --public-out token.pub.pem   # first, for the next line
  wrctl token verify "$token" --public-key token.pub.pem`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("token verify takes one TOKEN, got %d arguments", len(args))
			}
			o.Token = args[0]
			if err := o.complete(cmd, nil); err != nil {
				return err
			}
			return runOr(runF, verifyRun)(cmd.Context(), o)
		},
	}
	g := flags{cmd: cmd}
	g.bind(&o.secret, "secret", "token.secret", "", "HS256 secret (token.secret, WRCTL_TOKEN_SECRET)")
	g.bind(&o.audience, "audience", "token.audience", "", "require this aud claim")
	g.bind(&o.publicKey, "public-key", "", "", "Ed25519 public key file (PEM)")
	g.bind(&o.jwks, "jwks", "", "", "key set URL (default: the server's /.well-known/jwks.json)")
	g.bind(&o.event, "event", "", "", "require a token for this event")
	o.clientOptions.bind(cmd)
	return cmd
}

// verifyRun checks the token with the key given, and prints its claims.
func verifyRun(ctx context.Context, o *verifyOptions) error {
	var opts []accesstoken.Option
	if aud := o.audience; aud != "" {
		opts = append(opts, accesstoken.WithAudience(aud))
	}
	pubFile, jwks := o.publicKey, o.jwks
	var verifier *accesstoken.Verifier
	switch secret := o.secret; {
	case secret != "":
		verifier = accesstoken.NewHS256Verifier([]byte(secret), opts...)
	case pubFile != "":
		pem, err := os.ReadFile(pubFile)
		if err != nil {
			return usagef("--public-key: %v", err)
		}
		pub, err := accesstoken.ParsePublicKey(pem)
		if err != nil {
			return usagef("--public-key %s: %v", pubFile, err)
		}
		verifier = accesstoken.NewEd25519Verifier(pub, opts...)
	default:
		if jwks == "" {
			c, err := o.Client()
			if err != nil {
				return err
			}
			jwks = c.JWKSURL()
		}
		verifier = accesstoken.NewJWKSVerifier(jwks, nil, opts...)
	}
	claims, err := verifier.Verify(ctx, o.Token)
	if alg := accesstoken.Algorithm(o.Token); err != nil && alg != "" && alg != verifier.Alg() {
		need := "--secret (WRCTL_TOKEN_SECRET)"
		if alg == "EdDSA" {
			need = "--public-key, --jwks or the server's key set (no --secret)"
		}
		return fmt.Errorf("%w: the token is signed with %s but the key given is for %s: verify it with %s", accesstoken.ErrInvalid, alg, verifier.Alg(), need)
	}
	if err != nil {
		return err
	}
	if event := o.event; event != "" && claims.EventID != event {
		return fmt.Errorf("%w: token is for event %q, not %q", accesstoken.ErrInvalid, claims.EventID, event)
	}
	w := o.IO.Out
	if o.Format == printer.JSON {
		return json.NewEncoder(w).Encode(claims)
	}
	_, err = fmt.Fprintf(w, "valid\nsession   %s\nevent     %s\nuser      %s\nexpires   %s\n",
		claims.SessionID, claims.EventID, claims.UserID(), claims.ExpiresAt.Time.UTC().Format(time.RFC3339))
	return err
}

// keygenOptions are token keygen's input.
type keygenOptions struct {
	IO             *factory
	out, publicOut string
}

func newTokenKeygenCmd(f *factory, runF func(context.Context, *keygenOptions) error) *cobra.Command {
	o := &keygenOptions{IO: f}
	cmd := &cobra.Command{
		Use:   "keygen --out FILE",
		Short: "Make an Ed25519 key pair for signing access tokens",
		Long: `Write a new Ed25519 private key (PEM PKCS #8, mode 0600) for
'wrctl serve --token-key-file', and its public key (PEM) for sites that verify
with a key file rather than the published key set: to --public-out, or to
standard output. Neither file may exist; nothing is written unless both can be.`,
		Example: `  wrctl token keygen --out /etc/wrctl/token.pem --public-out token.pub.pem`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.out == "" {
				return usagef("--out is required")
			}
			return runOr(runF, keygenRun)(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.out, "out", "", "file for the private key; must not exist")
	cmd.Flags().StringVar(&o.publicOut, "public-out", "", "file for the public key (default: standard output); must not exist")
	return cmd
}

// keygenRun writes the key pair, or nothing.
func keygenRun(_ context.Context, o *keygenOptions) error {
	pub, err := accesstoken.WriteKeyFiles(o.out, o.publicOut)
	var fe *accesstoken.KeyFileError
	if errors.As(err, &fe) {
		flag := "--out"
		if fe.Path == o.publicOut && fe.Path != o.out {
			flag = "--public-out"
		}
		return usagef("%s %v", flag, fe)
	}
	if err != nil {
		return err
	}
	// Say what was written, on stderr: stdout may be the public key.
	where := "the public key to standard output"
	if o.publicOut != "" {
		where = "the public key to " + o.publicOut
	}
	fmt.Fprintf(o.IO.ErrOut, "wrote the Ed25519 private key to %s (mode 0600: give it to serve as --token-key-file) and %s (for sites that verify tokens without the key set at %s)\n",
		o.out, where, api.JWKSPath)
	if pub != nil {
		_, err = o.IO.Out.Write(pub)
	}
	return err
}
