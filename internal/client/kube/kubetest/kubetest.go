// Package kubetest starts a real Kubernetes API server for tests: Debian's
// etcd and a kube-apiserver built by examples/kube/build-kube, both on
// 127.0.0.1 with free ports and their data, certificates and logs in one
// folder. There is no controller manager, scheduler or kubelet: objects are
// stored and validated, admitted (PodSecurity included) and authorized
// (RBAC), but nothing acts on them: no pod runs, and deleted namespaces
// stay Terminating. Of the controller manager's work, only what pods need to
// be admitted is done here: namespace "default" and those made with
// CreateNamespace get ServiceAccount "default" (without it the ServiceAccount
// admission plugin refuses pods) and ConfigMap kube-root-ca.crt; a
// namespace created otherwise needs them created by the test.
//
// Users authenticate with static bearer tokens: Admin (group system:masters)
// and Drill (group drill-users, no rights until a test binds a Role to it),
// plus any in Options.Users.
package kubetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Version is the Kubernetes release whose binaries BinDir looks for by default.
const Version = "v1.34.4"

// The users every Server has.
const (
	Admin = "admin" // group system:masters: every right
	Drill = "drill" // group drill-users: no rights of its own
)

// ServiceAccountIssuer is the API server's --service-account-issuer.
const ServiceAccountIssuer = "https://kubernetes.default.svc.cluster.local"

// ErrNoBinary is returned (wrapped) by StartE when kube-apiserver or etcd is missing.
var ErrNoBinary = errors.New("kubetest: binary missing")

// User is a user with a static bearer token.
type User struct {
	Name   string
	Groups []string
}

// Options configure StartE. Only Dir is required.
type Options struct {
	// Dir holds etcd's data, the certificates, the token file, the
	// kubeconfigs and the logs (etcd.log, kube-apiserver.log). It must exist.
	Dir string
	// BinDir holds kube-apiserver; "" means BinDir().
	BinDir string
	// Etcd is the etcd binary; "" means etcd on PATH.
	Etcd string
	// Users get tokens beside Admin and Drill.
	Users []User
	// APIServerArgs are appended to kube-apiserver's flags; a repeated
	// flag overrides a single-valued default and extends a list.
	APIServerArgs []string
	// ReadyTimeout bounds the wait for each process to become ready, on top
	// of ctx; 0 means 90 s.
	ReadyTimeout time.Duration
}

// BinDir is where kube-apiserver is looked for: $DRILL_KUBE_BIN, else the
// folder examples/kube/build-kube builds into
// ($DRILL_KUBE_CACHE or the user cache folder's drill/kube, then
// $DRILL_KUBE_VERSION or Version, then bin).
func BinDir() string {
	if d := os.Getenv("DRILL_KUBE_BIN"); d != "" {
		return d
	}
	cache := os.Getenv("DRILL_KUBE_CACHE")
	if cache == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			base = filepath.Join(os.TempDir(), "drill-cache")
		}
		cache = filepath.Join(base, "drill", "kube")
	}
	version := os.Getenv("DRILL_KUBE_VERSION")
	if version == "" {
		version = Version
	}
	return filepath.Join(cache, version, "bin")
}

// Server is a running etcd and kube-apiserver. Its methods are safe for
// concurrent use.
type Server struct {
	dir     string
	url     string
	apiBin  string
	apiArgs []string
	timeout time.Duration
	tokens  map[string]string
	etcdURL string
	etcd    *proc

	mu          sync.Mutex
	api         *proc
	caPEM       []byte
	kubeconfigs map[string]string
	clients     map[string]*http.Client
}

// Start starts a Server in t.TempDir() and stops it when the test ends. When
// a binary is missing it skips the test (pointing at examples/kube/build-kube),
// or fails it if CI=true. When the test has failed it logs the ends of both
// processes' logs.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartWith(t, Options{})
}

// StartWith is Start with options; o.Dir defaults to t.TempDir().
func StartWith(t testing.TB, o Options) *Server {
	t.Helper()
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	s, err := StartE(t.Context(), o)
	if errors.Is(err, ErrNoBinary) {
		msg := fmt.Sprintf("%v: build it with examples/kube/build-kube kube-apiserver (or point DRILL_KUBE_BIN at a folder with kube-apiserver; etcd comes from PATH)", err)
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s; CI=true: CI must not skip the Kubernetes tests", msg)
		}
		t.Skip(msg)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("end of %s:\n%s", s.APIServerLog(), tail(s.APIServerLog(), 30))
			t.Logf("end of %s:\n%s", s.EtcdLog(), tail(s.EtcdLog(), 15))
		}
		s.Stop()
	})
	return s
}

// StartE starts etcd, then kube-apiserver, and returns once /readyz answers
// 200. ctx bounds only the start: the processes run until Stop. A missing
// binary is an error wrapping ErrNoBinary; a failure to start includes the
// end of the failed process's log.
func StartE(ctx context.Context, o Options) (_ *Server, err error) {
	if o.Dir == "" {
		return nil, errors.New("kubetest: Options.Dir is required")
	}
	if o.BinDir == "" {
		o.BinDir = BinDir()
	}
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = 90 * time.Second
	}
	apiBin := filepath.Join(o.BinDir, "kube-apiserver")
	if st, err := os.Stat(apiBin); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		return nil, fmt.Errorf("%w: no kube-apiserver at %s", ErrNoBinary, apiBin)
	}
	etcdBin := o.Etcd
	if etcdBin == "" {
		etcdBin = "etcd"
	}
	etcdBin, err = exec.LookPath(etcdBin)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoBinary, err)
	}

	s := &Server{
		dir:         o.Dir,
		apiBin:      apiBin,
		timeout:     o.ReadyTimeout,
		tokens:      map[string]string{},
		kubeconfigs: map[string]string{},
		clients:     map[string]*http.Client{},
	}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	for _, d := range []string{"etcd", "certs"} {
		if err := os.MkdirAll(filepath.Join(o.Dir, d), 0o700); err != nil {
			return nil, fmt.Errorf("kubetest: %w", err)
		}
	}
	tokenFile, err := s.writeTokens(o.Users)
	if err != nil {
		return nil, err
	}
	saPub, saKey, err := writeServiceAccountKey(o.Dir)
	if err != nil {
		return nil, err
	}

	// A port chosen free can be taken before the process binds it: start
	// again on fresh ports when the log says so.
	for attempt := 1; ; attempt++ {
		ports, err := freePorts(2)
		if err != nil {
			return nil, err
		}
		s.etcd, err = s.startEtcd(ctx, etcdBin, ports[0], ports[1])
		if err == nil {
			break
		}
		if s.etcd == nil || !s.etcd.exited() || !s.etcd.portInUse() || attempt == 3 {
			return nil, err
		}
		if err := os.RemoveAll(filepath.Join(o.Dir, "etcd")); err != nil {
			return nil, fmt.Errorf("kubetest: %w", err)
		}
	}
	for attempt := 1; ; attempt++ {
		ports, err := freePorts(1)
		if err != nil {
			return nil, err
		}
		s.url = "https://127.0.0.1:" + strconv.Itoa(ports[0])
		s.apiArgs = append([]string{
			"--etcd-servers=" + s.etcdURL,
			"--bind-address=127.0.0.1",
			"--advertise-address=127.0.0.1",
			"--secure-port=" + strconv.Itoa(ports[0]),
			"--cert-dir=" + filepath.Join(o.Dir, "certs"),
			"--service-account-key-file=" + saPub,
			"--service-account-signing-key-file=" + saKey,
			"--service-account-issuer=" + ServiceAccountIssuer,
			"--service-cluster-ip-range=10.96.0.0/16",
			"--authorization-mode=Node,RBAC",
			"--token-auth-file=" + tokenFile,
			"--allow-privileged=true",
		}, o.APIServerArgs...)
		err = s.startAPIServer(ctx)
		if err == nil {
			break
		}
		if s.api == nil || !s.api.exited() || !s.api.portInUse() || attempt == 3 {
			return nil, err
		}
	}
	// The bootstrap controller creates namespace default just after (or
	// just before) /readyz turns 200.
	if err := s.poll(ctx, s.api, func(ctx context.Context) (bool, string) {
		if err := s.addNamespaceDefaults(ctx, "default"); err != nil {
			return false, err.Error()
		}
		return true, ""
	}); err != nil {
		return nil, err
	}
	return s, nil
}

// startEtcd starts a one-member etcd, sets s.etcdURL and waits until
// /health says true.
func (s *Server) startEtcd(ctx context.Context, bin string, port, peerPort int) (*proc, error) {
	client := "http://127.0.0.1:" + strconv.Itoa(port)
	s.etcdURL = client
	peer := "http://127.0.0.1:" + strconv.Itoa(peerPort)
	p, err := startProc("etcd", bin, []string{
		"--name=kubetest",
		"--data-dir=" + filepath.Join(s.dir, "etcd"),
		"--listen-peer-urls=" + peer,
		"--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=kubetest=" + peer,
		"--initial-cluster-state=new",
		"--heartbeat-interval=10", "--election-timeout=100", // one member: elect it at once
		"--logger=zap",
		"--log-outputs=stderr",
		"--advertise-client-urls=" + client,
		"--listen-client-urls=" + client,
	}, s.EtcdLog())
	if err != nil {
		return nil, err
	}
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil}}
	err = s.poll(ctx, p, func(ctx context.Context) (bool, string) {
		code, body, err := get(ctx, hc, client+"/health", "")
		if err != nil {
			return false, err.Error()
		}
		var h struct{ Health string }
		_ = json.Unmarshal([]byte(body), &h)
		return code == http.StatusOK && h.Health == "true", body
	})
	return p, err
}

// startAPIServer starts kube-apiserver with s.apiArgs and waits for /readyz,
// then reads the serving certificate the API server generated and checks
// that it verifies the server (as client-go would with the kubeconfig).
func (s *Server) startAPIServer(ctx context.Context) error {
	p, err := startProc("kube-apiserver", s.apiBin, s.apiArgs, s.APIServerLog())
	s.mu.Lock()
	s.api = p
	s.mu.Unlock()
	if err != nil {
		return err
	}
	// The certificate may not be written yet when the first polls go out.
	insecure := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		Proxy:           nil,
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // only until the CA is read
	}}
	if err := s.poll(ctx, p, func(ctx context.Context) (bool, string) {
		code, body, err := get(ctx, insecure, s.url+"/readyz", s.tokens[Admin])
		if err != nil {
			return false, err.Error()
		}
		return code == http.StatusOK, body
	}); err != nil {
		return err
	}
	// kube-apiserver writes (once: a restart finds and reuses them) a CA
	// and the serving certificate it signed, valid for 127.0.0.1 (the bind
	// address), both in certs/apiserver.crt. The clients trust that file;
	// the check below is the one client-go makes with the kubeconfig.
	s.mu.Lock()
	if s.caPEM == nil {
		s.caPEM, err = os.ReadFile(filepath.Join(s.dir, "certs", "apiserver.crt"))
	}
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("kubetest: serving certificate: %w", err)
	}
	code, body, err := get(ctx, s.Client(Admin), s.url+"/readyz", "")
	if err != nil {
		return fmt.Errorf("kubetest: the generated certificate does not verify the API server: %w", err)
	}
	if code != http.StatusOK {
		return fmt.Errorf("kubetest: /readyz: %d %s", code, body)
	}
	return nil
}

// poll calls ready every 100 ms until it says true, p exits, ctx ends or
// s.timeout passes; the error then has the last answer and the log's end.
// p's exit also cancels the ctx given to ready.
func (s *Server) poll(ctx context.Context, p *proc, ready func(context.Context) (bool, string)) error {
	deadline, cancelDeadline := context.WithTimeout(ctx, s.timeout)
	defer cancelDeadline()
	ctx, cancel := context.WithCancel(deadline)
	defer cancel()
	go func() {
		select {
		case <-p.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	last := ""
	for {
		ok, answer := ready(ctx)
		if ok {
			return nil
		}
		if answer != "" {
			last = answer
		}
		if p.exited() {
			return p.exitError()
		}
		select {
		case <-p.done:
			return p.exitError()
		case <-deadline.Done():
			return fmt.Errorf("kubetest: %s not ready: %w; last answer: %s\nend of %s:\n%s", p.name, deadline.Err(), last, p.log, tail(p.log, 40))
		case <-tick.C:
		}
	}
}

// CreateNamespace creates namespace name with labels (nil for none) as
// Admin, with what the controller manager would add: ServiceAccount
// "default" (without it the ServiceAccount admission plugin refuses pods)
// and ConfigMap kube-root-ca.crt.
func (s *Server) CreateNamespace(ctx context.Context, name string, labels map[string]string) error {
	ns, err := json.Marshal(map[string]any{"metadata": map[string]any{"name": name, "labels": labels}})
	if err != nil {
		return fmt.Errorf("kubetest: namespace %s: %w", name, err)
	}
	if err := s.create(ctx, "/api/v1/namespaces", ns, false); err != nil {
		return err
	}
	return s.addNamespaceDefaults(ctx, name)
}

// addNamespaceDefaults creates ServiceAccount "default" and ConfigMap
// kube-root-ca.crt in namespace ns unless they exist.
func (s *Server) addNamespaceDefaults(ctx context.Context, ns string) error {
	cm, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"name": "kube-root-ca.crt"},
		"data":     map[string]string{"ca.crt": string(s.CA())},
	})
	if err != nil {
		return fmt.Errorf("kubetest: kube-root-ca.crt: %w", err)
	}
	if err := s.create(ctx, "/api/v1/namespaces/"+ns+"/serviceaccounts", []byte(`{"metadata":{"name":"default"}}`), true); err != nil {
		return err
	}
	return s.create(ctx, "/api/v1/namespaces/"+ns+"/configmaps", cm, true)
}

// create POSTs a JSON object to path as Admin; exists says whether 409
// Conflict (it exists already) is fine.
func (s *Server) create(ctx context.Context, path string, obj []byte, exists bool) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url+path, bytes.NewReader(obj))
	if err != nil {
		return fmt.Errorf("kubetest: POST %s: %w", path, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.Client(Admin).Do(req)
	if err != nil {
		return fmt.Errorf("kubetest: POST %s: %w", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode == http.StatusCreated || exists && resp.StatusCode == http.StatusConflict {
		return nil
	}
	return fmt.Errorf("kubetest: POST %s: %s: %s", path, resp.Status, b)
}

// get GETs url with a bearer token (if not "") and returns the status and body.
func get(ctx context.Context, c *http.Client, url, token string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b), err
}

// writeTokens makes a random token for each user and writes the
// --token-auth-file (CSV: token,user,uid,"group,...").
func (s *Server) writeTokens(extra []User) (string, error) {
	users := append([]User{
		{Name: Admin, Groups: []string{"system:masters"}},
		{Name: Drill, Groups: []string{"drill-users"}},
	}, extra...)
	var b strings.Builder
	for _, u := range users {
		if _, dup := s.tokens[u.Name]; dup || u.Name == "" {
			return "", fmt.Errorf("kubetest: user %q: empty or repeated", u.Name)
		}
		tok := make([]byte, 24)
		if _, err := rand.Read(tok); err != nil {
			return "", fmt.Errorf("kubetest: token: %w", err)
		}
		s.tokens[u.Name] = hex.EncodeToString(tok)
		fmt.Fprintf(&b, "%s,%s,%s,%q\n", s.tokens[u.Name], u.Name, u.Name, strings.Join(u.Groups, ","))
	}
	path := filepath.Join(s.dir, "tokens.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return "", fmt.Errorf("kubetest: token file: %w", err)
	}
	return path, nil
}

// writeServiceAccountKey writes a new RSA key pair for service account
// tokens and returns the public and private key files.
func writeServiceAccountKey(dir string) (pub, priv string, err error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", "", fmt.Errorf("kubetest: service account key: %w", err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return "", "", fmt.Errorf("kubetest: service account key: %w", err)
	}
	pub, priv = filepath.Join(dir, "sa.pub"), filepath.Join(dir, "sa.key")
	if err := os.WriteFile(pub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		return "", "", fmt.Errorf("kubetest: service account key: %w", err)
	}
	block := &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}
	if err := os.WriteFile(priv, pem.EncodeToMemory(block), 0o600); err != nil {
		return "", "", fmt.Errorf("kubetest: service account key: %w", err)
	}
	return pub, priv, nil
}

// URL is the API server's address, https://127.0.0.1:PORT. It stays the same
// across RestartAPIServer.
func (s *Server) URL() string { return s.url }

// Token is user's bearer token. It panics for a user the Server lacks.
func (s *Server) Token(user string) string {
	tok, ok := s.tokens[user]
	if !ok {
		panic(fmt.Sprintf("kubetest: no user %q", user))
	}
	return tok
}

// CA is the PEM certificate bundle that verifies the API server.
func (s *Server) CA() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.caPEM
}

// Client is an HTTP client that verifies the API server with CA and sends
// user's token; one per user, shared. It panics for a user the Server lacks.
func (s *Server) Client(user string) *http.Client {
	tok := s.Token(user)
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.clients[user]; ok {
		return c
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.caPEM)
	c := &http.Client{
		Timeout: 30 * time.Second,
		Transport: bearer{token: tok, next: &http.Transport{
			Proxy:           nil,
			TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		}},
	}
	s.clients[user] = c
	return c
}

// bearer adds an Authorization header to each request.
type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

// Kubeconfig returns the path of a kubeconfig (JSON) for user: the cluster
// with the API server's CA, the user's token, and a current context named
// "kubetest" in namespace "default". It is written once per user. It panics
// for a user the Server lacks or when the file cannot be written.
func (s *Server) Kubeconfig(user string) string {
	tok := s.Token(user)
	s.mu.Lock()
	defer s.mu.Unlock()
	if path, ok := s.kubeconfigs[user]; ok {
		return path
	}
	type named struct {
		Name    string `json:"name"`
		Cluster any    `json:"cluster,omitempty"`
		User    any    `json:"user,omitempty"`
		Context any    `json:"context,omitempty"`
	}
	cfg := map[string]any{
		"apiVersion": "v1",
		"kind":       "Config",
		"clusters": []named{{Name: "kubetest", Cluster: map[string]any{
			"server":                     s.url,
			"certificate-authority-data": s.caPEM, // []byte: base64 in JSON, as kubeconfig wants
		}}},
		"users": []named{{Name: user, User: map[string]any{"token": tok}}},
		"contexts": []named{{Name: "kubetest", Context: map[string]any{
			"cluster": "kubetest", "user": user, "namespace": "default",
		}}},
		"current-context": "kubetest",
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		panic(fmt.Sprintf("kubetest: kubeconfig: %v", err))
	}
	path := filepath.Join(s.dir, "kubeconfig-"+user+".json")
	if err := os.WriteFile(path, append(b, '\n'), 0o600); err != nil {
		panic(fmt.Sprintf("kubetest: kubeconfig: %v", err))
	}
	s.kubeconfigs[user] = path
	return path
}

// EtcdLog is the path of etcd's log.
func (s *Server) EtcdLog() string { return filepath.Join(s.dir, "etcd.log") }

// APIServerLog is the path of kube-apiserver's log (restarts append to it).
func (s *Server) APIServerLog() string { return filepath.Join(s.dir, "kube-apiserver.log") }

// StopAPIServer stops only kube-apiserver (SIGTERM, SIGKILL after 5 s) and
// returns once it has exited, so that the URL refuses connections while
// etcd keeps the data.
func (s *Server) StopAPIServer() {
	s.mu.Lock()
	p := s.api
	s.mu.Unlock()
	p.stop()
}

// RestartAPIServer starts kube-apiserver again (stopping it first if it
// runs) on the same port, certificate and tokens, and waits for /readyz.
func (s *Server) RestartAPIServer(ctx context.Context) error {
	s.StopAPIServer()
	return s.startAPIServer(ctx)
}

// Stop stops kube-apiserver, then etcd. Stopping twice does nothing.
func (s *Server) Stop() {
	s.StopAPIServer()
	s.etcd.stop()
}
