//go:build kube

package kubetest_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drill-dev/drill/internal/client/kube/kubetest"
)

// kubeconfig is the part of a kubeconfig file the test reads.
type kubeconfig struct {
	Clusters []struct {
		Name    string
		Cluster struct {
			Server string
			CA     []byte `json:"certificate-authority-data"`
		}
	}
	Users []struct {
		Name string
		User struct{ Token string }
	}
	Contexts []struct {
		Name    string
		Context struct{ Cluster, User, Namespace string }
	}
	CurrentContext string `json:"current-context"`
}

// clientFrom builds an HTTP client from a kubeconfig file the way client-go
// does: the CA data as the only roots, the server name from the URL's host,
// the token as a bearer header.
func clientFrom(t *testing.T, path string) (*http.Client, string, string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var kc kubeconfig
	if err := json.Unmarshal(b, &kc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(kc.Clusters) != 1 || len(kc.Users) != 1 || len(kc.Contexts) != 1 || kc.CurrentContext != "kubetest" ||
		kc.Contexts[0].Name != "kubetest" || kc.Contexts[0].Context.Namespace != "default" ||
		kc.Contexts[0].Context.Cluster != kc.Clusters[0].Name || kc.Contexts[0].Context.User != kc.Users[0].Name {
		t.Fatalf("%s: unexpected kubeconfig:\n%s", path, b)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(kc.Clusters[0].Cluster.CA) {
		t.Fatalf("%s: certificate-authority-data holds no certificate", path)
	}
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
	}}
	return c, kc.Clusters[0].Cluster.Server, kc.Users[0].User.Token
}

func get(t *testing.T, c *http.Client, url, token string) (int, string) {
	t.Helper()
	return do(t, c, http.MethodGet, url, token, "")
}

func post(t *testing.T, c *http.Client, url, token, body string) (int, string) {
	t.Helper()
	return do(t, c, http.MethodPost, url, token, body)
}

// do sends a request with a JSON body (if not "") and a bearer token (if not
// "") and returns the status and the response body.
func do(t *testing.T, c *http.Client, method, url, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServer(t *testing.T) {
	t0 := time.Now()
	s := kubetest.Start(t)
	t.Logf("etcd and kube-apiserver ready in %.1f s at %s", time.Since(t0).Seconds(), s.URL())

	admin, url, adminToken := clientFrom(t, s.Kubeconfig(kubetest.Admin))
	drill, _, drillToken := clientFrom(t, s.Kubeconfig(kubetest.Drill))
	if url != s.URL() || adminToken != s.Token(kubetest.Admin) || drillToken != s.Token(kubetest.Drill) || adminToken == drillToken {
		t.Fatalf("kubeconfigs: server %s, tokens %q %q; want %s, %q %q", url, adminToken, drillToken,
			s.URL(), s.Token(kubetest.Admin), s.Token(kubetest.Drill))
	}
	if again := s.Kubeconfig(kubetest.Admin); again != s.Kubeconfig(kubetest.Admin) {
		t.Errorf("Kubeconfig(admin) twice: %s, then %s", s.Kubeconfig(kubetest.Admin), again)
	}

	if code, body := get(t, admin, url+"/readyz", adminToken); code != http.StatusOK || body != "ok" {
		t.Errorf("admin /readyz: %d %q", code, body)
	}
	pods := url + "/api/v1/namespaces/default/pods"
	if code, body := get(t, admin, pods, adminToken); code != http.StatusOK || !strings.Contains(body, `"kind":"PodList"`) {
		t.Errorf("admin lists pods: %d %s", code, body)
	}
	code, body := get(t, drill, pods, drillToken)
	if code != http.StatusForbidden || !strings.Contains(body, `User \"drill\" cannot list resource \"pods\"`) {
		t.Errorf("drill lists pods: %d %s; want 403", code, body)
	}
	if code, body := get(t, drill, pods, "wrong"); code != http.StatusUnauthorized {
		t.Errorf("a wrong token lists pods: %d %s; want 401", code, body)
	}
	// The groups come from the token file; s.Client sends the token itself.
	code, body = post(t, s.Client(kubetest.Drill), url+"/apis/authentication.k8s.io/v1/selfsubjectreviews", "",
		`{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}`)
	var review struct {
		Status struct {
			UserInfo struct {
				Username string
				Groups   []string
			}
		}
	}
	if err := json.Unmarshal([]byte(body), &review); err != nil || code != http.StatusCreated {
		t.Fatalf("drill's SelfSubjectReview: %d %s (%v)", code, body, err)
	}
	if u := review.Status.UserInfo; u.Username != kubetest.Drill || !slices.Contains(u.Groups, "drill-users") {
		t.Errorf("drill's SelfSubjectReview: %+v; want user drill in group drill-users", u)
	}
	cms := url + "/api/v1/namespaces/default/configmaps"
	if code, body := post(t, admin, cms, adminToken, `{"metadata":{"name":"kept"},"data":{"k":"v"}}`); code != http.StatusCreated {
		t.Fatalf("admin creates a ConfigMap: %d %s", code, body)
	}

	t.Run("PodSecurity", func(t *testing.T) {
		// Pods are admitted in namespace default and in those made with
		// CreateNamespace (ServiceAccount default exists), and PodSecurity
		// enforces a namespace's level.
		pod := func(name, capability string) string {
			return `{"metadata":{"name":"` + name + `"},"spec":{"containers":[{"name":"c","image":"busybox",` +
				`"securityContext":{"capabilities":{"add":["` + capability + `"]}}}]}}`
		}
		if code, body := post(t, admin, pods, adminToken, pod("in-default", "NET_ADMIN")); code != http.StatusCreated {
			t.Errorf("a NET_ADMIN pod in namespace default: %d %s; want 201", code, body)
		}
		if err := s.CreateNamespace(t.Context(), "baseline", map[string]string{"pod-security.kubernetes.io/enforce": "baseline"}); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateNamespace(t.Context(), "baseline", nil); err == nil {
			t.Error("CreateNamespace(baseline) twice: no error")
		}
		baseline := url + "/api/v1/namespaces/baseline/pods"
		code, body := post(t, admin, baseline, adminToken, pod("net-admin", "NET_ADMIN"))
		if code != http.StatusForbidden || !strings.Contains(body, `violates PodSecurity \"baseline:latest\"`) {
			t.Errorf("a NET_ADMIN pod in a baseline namespace: %d %s; want 403 for PodSecurity", code, body)
		}
		if code, body := post(t, admin, baseline, adminToken, pod("chown", "CHOWN")); code != http.StatusCreated {
			t.Errorf("a CHOWN pod in a baseline namespace: %d %s; want 201", code, body)
		}
	})

	t.Run("StopAPIServer", func(t *testing.T) {
		s.StopAPIServer()
		_, err := s.Client(kubetest.Admin).Get(url + "/readyz")
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("GET /readyz with the API server stopped: %v; want connection refused", err)
		}
		t0 := time.Now()
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		defer cancel()
		if err := s.RestartAPIServer(ctx); err != nil {
			t.Fatal(err)
		}
		t.Logf("kube-apiserver ready again in %.1f s", time.Since(t0).Seconds())
		// Same URL, same CA, same tokens, and etcd kept the data.
		if code, body := get(t, admin, cms+"/kept", adminToken); code != http.StatusOK || !strings.Contains(body, `"k":"v"`) {
			t.Errorf("admin reads the ConfigMap after the restart: %d %s", code, body)
		}
		if code, _ := get(t, drill, pods, drillToken); code != http.StatusForbidden {
			t.Errorf("drill lists pods after the restart: %d; want 403", code)
		}
	})
}
