package docker_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drill-dev/drill/internal/client/docker"
	"github.com/drill-dev/drill/internal/client/docker/dockertest"
)

// fakeEngine answers the few Engine API calls these tests make, with the failures a real
// engine does not produce on demand.
type fakeEngine struct {
	mu         sync.Mutex
	containers []map[string]any // container list entries
	paused     bool             // what inspect says
	failList   bool
	removed    int // helper containers removed
}

func (f *fakeEngine) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w.Header().Set("Api-Version", "1.41")
	path := r.URL.Path
	if i := strings.Index(path, "/containers/"); i > 0 { // strip the version prefix
		path = path[i:]
	} else if i := strings.Index(path, "/images/"); i > 0 {
		path = path[i:]
	}
	w.Header().Set("Content-Type", "application/json")
	fail := func(code int, msg string) {
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(map[string]string{"message": msg})
	}
	switch {
	case strings.HasSuffix(path, "/_ping"):
		w.Write([]byte("OK"))
	case path == "/containers/json" && f.failList:
		fail(500, "database is locked")
	case path == "/containers/json":
		json.NewEncoder(w).Encode(f.containers)
	case strings.HasSuffix(path, "/pause"):
		fail(500, "cgroup freezer: device or resource busy")
	case strings.HasSuffix(path, "/unpause"):
		fail(500, "runc did not terminate successfully")
	case strings.HasPrefix(path, "/containers/") && strings.HasSuffix(path, "/json"):
		json.NewEncoder(w).Encode(map[string]any{
			"Id": "c0ffee", "Name": "/p_db_1",
			"State":  map[string]any{"Status": map[bool]string{true: "paused", false: "running"}[f.paused], "Running": true, "Paused": f.paused},
			"Config": map[string]any{"Labels": map[string]string{docker.LabelProject: "p", docker.LabelService: "db"}},
		})
	// A helper container of the target's own image, which lacks the command.
	case path == "/containers/create":
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte(`{"Id":"helper1"}`))
	case path == "/containers/helper1/attach":
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Write([]byte("HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"))
		conn.Close()
	case path == "/containers/helper1/wait":
		w.Write([]byte(`{"StatusCode":127}`))
	case path == "/containers/helper1/start":
		fail(400, `failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: "iptables": executable file not found in $PATH: unknown`)
	case path == "/containers/helper1" && r.Method == http.MethodDelete:
		f.removed++
		w.WriteHeader(http.StatusNoContent)
	case strings.HasPrefix(path, "/images/") && strings.HasSuffix(path, "/json"):
		fail(404, "No such image: drill/nettools:latest")
	case strings.HasPrefix(path, "/images/create"):
		w.Write([]byte(`{"status":"Pulling from drill/nettools"}` + "\n" + `{"errorDetail":{"message":"pull access denied for drill/nettools"},"error":"pull access denied for drill/nettools"}` + "\n"))
	default:
		fail(404, "fake engine: no route for "+r.Method+" "+r.URL.Path)
	}
}

func container(project, service string) map[string]any {
	return map[string]any{"Id": "c0ffee", "Names": []string{"/" + project + "_" + service + "_1"}, "State": "running", "Labels": map[string]string{
		docker.LabelProject: project, docker.LabelService: service, docker.LabelNumber: "1"}}
}

// connectFake starts f and connects to it through DOCKER_HOST, as drill would.
func connectFake(t *testing.T, f *fakeEngine) *docker.Engine {
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	t.Setenv("DOCKER_HOST", "tcp://"+srv.Listener.Addr().String())
	e, err := docker.Connect(dockertest.Context(t, 5*time.Second), docker.Options{HelperImage: "drill/nettools:latest"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func TestUnreachableEngine(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
	_, err := docker.Connect(context.Background(), docker.Options{})
	wantErr(t, err, "docker engine unreachable at unix:///nonexistent/docker.sock (is dockerd running, is DOCKER_HOST right, may this user use the socket?): Cannot connect to the Docker daemon at unix:///nonexistent/docker.sock. Is the docker daemon running?")
	if !errors.Is(err, docker.ErrUnreachable) {
		t.Errorf("%v is not ErrUnreachable", err)
	}
}

func TestProjectDiscovery(t *testing.T) {
	f := &fakeEngine{}
	e := connectFake(t, f)
	ctx := dockertest.Context(t, 10*time.Second)

	_, err := e.Project(ctx, "")
	wantErr(t, err, "not found: no running docker compose project on this Docker Engine: start the test bed (docker compose up -d) or name the project")
	if !errors.Is(err, docker.ErrNotFound) {
		t.Errorf("%v is not ErrNotFound", err)
	}

	f.containers = []map[string]any{container("drill-testbed", "etcd"), container("drill-testbed", "haproxy")}
	p, err := e.Project(ctx, "")
	if err != nil || p.Name() != "drill-testbed" {
		t.Fatalf("Project(\"\") = %v, %v; want drill-testbed", p, err)
	}

	f.containers = append(f.containers, container("other", "web"))
	_, err = e.Project(ctx, "")
	wantErr(t, err, "several docker compose projects are running (drill-testbed, other): name the one to drill")

	f.failList = true
	_, err = e.Projects(ctx)
	wantErr(t, err, "list compose projects: Error response from daemon: database is locked")
}

func TestEngineRefuses(t *testing.T) {
	f := &fakeEngine{containers: []map[string]any{container("p", "db")}}
	e := connectFake(t, f)
	ctx := dockertest.Context(t, 10*time.Second)
	p, err := e.Project(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	db := docker.Target{Service: "db"}

	_, err = p.Pause(ctx, db)
	wantErr(t, err, `pause service "db" (container p_db_1) in compose project "p": Error response from daemon: cgroup freezer: device or resource busy`)

	// An undo that the engine refuses fails while the container is still paused...
	f.paused = true
	wantErr(t, p.Unpause(ctx, db), `unpause service "db" (container p_db_1) in compose project "p": Error response from daemon: runc did not terminate successfully`)
	// ...and succeeds when the container is not paused, whatever the engine said.
	f.paused = false
	if err := p.Unpause(ctx, db); err != nil {
		t.Fatalf("Unpause of a running container: %v", err)
	}

	// A paused target needs a helper container; its own image lacks iptables, and the helper
	// image is missing and cannot be pulled.
	f.paused = true
	_, err = p.NetExec(ctx, "db", []string{"iptables", "-S"}, nil)
	wantErr(t, err, `helper image "drill/nettools:latest" is not on the Docker Engine and could not be pulled (pull access denied for drill/nettools): load or build an image with iptables, tc and ip and name it as the helper image`)
	if f.removed != 1 {
		t.Errorf("%d helper containers removed, want 1", f.removed)
	}

	f.failList = true
	_, err = p.Inspect(ctx, db)
	wantErr(t, err, `list containers of compose project "p": Error response from daemon: database is locked`)
}
