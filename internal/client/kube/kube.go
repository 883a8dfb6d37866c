// Package kube is drill's only code that talks to a Kubernetes API server
// (through client-go): it finds a cluster's pods by label, deletes them,
// adds the ephemeral containers drill's faults run in, execs commands, reads
// logs, and asks the API server up front whether drill may do each of these.
// It knows nothing of faults or drills: internal/platform/kube builds on it.
package kube

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/util/exec"
	"k8s.io/streaming/pkg/httpstream"
)

// Config says which API server and namespace to use.
type Config struct {
	// Kubeconfig is the kubeconfig file; "" means KUBECONFIG, else
	// ~/.kube/config, else the in-cluster service account.
	Kubeconfig string
	// Context is the kubeconfig context ("" is its current one).
	Context string
	// Namespace is the pods' namespace ("" is the context's, else
	// "default").
	Namespace string
	// Timeout bounds each request to the API server (default 30s).
	Timeout time.Duration
}

// Client is a connection to one namespace of one API server.
type Client struct {
	rest      *rest.Config
	cs        kubernetes.Interface
	namespace string
	server    string
}

// ErrNotFound is matched (errors.Is) by the error for a pod or container
// that does not exist.
var ErrNotFound = errors.New("not found")

// Open connects to the API server cfg names. It reads the kubeconfig but
// sends no request.
func Open(cfg Config) (*Client, error) {
	rc, ns, err := restConfig(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Namespace != "" {
		ns = cfg.Namespace
	}
	if ns == "" {
		ns = "default"
	}
	rc.Timeout = cfg.Timeout
	if rc.Timeout == 0 {
		rc.Timeout = 30 * time.Second
	}
	rc.UserAgent = "drill"
	// A drill's bursts (every member polled at once, each port-forwarded
	// connection a request) exceed client-go's default of 5 per second,
	// whose waits would read as members that do not answer. kubectl's own
	// limits.
	rc.QPS, rc.Burst = 50, 300
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client for %s: %w", rc.Host, err)
	}
	return &Client{rest: rc, cs: cs, namespace: ns, server: rc.Host}, nil
}

// restConfig loads the kubeconfig (or the in-cluster config) and returns it
// with the context's namespace.
func restConfig(cfg Config) (*rest.Config, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if cfg.Kubeconfig != "" {
		path := cfg.Kubeconfig
		if strings.HasPrefix(path, "~/") {
			home, _ := os.UserHomeDir()
			path = filepath.Join(home, path[2:])
		}
		if _, err := os.Stat(path); err != nil {
			return nil, "", fmt.Errorf("kubeconfig %s: %w", path, err)
		}
		rules.ExplicitPath = path
	}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: cfg.Context}
	loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
	rc, err := loader.ClientConfig()
	if err != nil {
		if cfg.Kubeconfig == "" && cfg.Context == "" && clientcmd.IsEmptyConfig(err) {
			// No kubeconfig at all: inside a pod, use its service account.
			in, ierr := rest.InClusterConfig()
			if ierr != nil {
				return nil, "", fmt.Errorf("no kubeconfig (set kubernetes.kubeconfig, KUBECONFIG or ~/.kube/config) and not inside a pod: %w", ierr)
			}
			ns, _ := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
			return in, strings.TrimSpace(string(ns)), nil
		}
		return nil, "", fmt.Errorf("kubeconfig: %w", err)
	}
	ns, _, err := loader.Namespace()
	if err != nil {
		return nil, "", fmt.Errorf("kubeconfig namespace: %w", err)
	}
	return rc, ns, nil
}

// Namespace is the namespace the client works in.
func (c *Client) Namespace() string { return c.namespace }

// Server is the API server's URL, for messages.
func (c *Client) Server() string { return c.server }

// Pod is what drill needs of a pod.
type Pod struct {
	Name       string
	UID        string
	IP         string
	Node       string
	Phase      string
	Containers []string // the spec's containers, in order
	Deleting   bool     // a deletion timestamp is set
	// Running is the containers (ephemeral ones included) whose state is
	// running, by name, with their restart counts.
	Running  map[string]int32
	Restarts map[string]int32
	// Ephemeral is the state of each of the pod's ephemeral containers, by
	// name: "waiting (reason)", "running", "terminated (reason)", or ""
	// before a kubelet reports.
	Ephemeral map[string]string
}

func podOf(p *corev1.Pod) Pod {
	out := Pod{
		Name: p.Name, UID: string(p.UID), IP: p.Status.PodIP, Node: p.Spec.NodeName,
		Phase: string(p.Status.Phase), Deleting: p.DeletionTimestamp != nil,
		Running: map[string]int32{}, Restarts: map[string]int32{}, Ephemeral: map[string]string{},
	}
	for _, ct := range p.Spec.Containers {
		out.Containers = append(out.Containers, ct.Name)
	}
	states := map[string]string{}
	for _, st := range slices.Concat(p.Status.ContainerStatuses, p.Status.EphemeralContainerStatuses) {
		out.Restarts[st.Name] = st.RestartCount
		switch {
		case st.State.Running != nil:
			out.Running[st.Name] = st.RestartCount
			states[st.Name] = "running"
		case st.State.Terminated != nil:
			states[st.Name] = "terminated (" + st.State.Terminated.Reason + ")"
		case st.State.Waiting != nil:
			states[st.Name] = "waiting (" + st.State.Waiting.Reason + ")"
		}
	}
	for _, ec := range p.Spec.EphemeralContainers {
		out.Ephemeral[ec.Name] = states[ec.Name]
	}
	return out
}

// Pods lists the namespace's pods that match selector (a label selector,
// "a=b,c"), sorted by name.
func (c *Client) Pods(ctx context.Context, selector string) ([]Pod, error) {
	if _, err := labels.Parse(selector); err != nil {
		return nil, fmt.Errorf("label selector %q: %w", selector, err)
	}
	list, err := c.cs.CoreV1().Pods(c.namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, c.explain(err, "list", "pods", "")
	}
	out := make([]Pod, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, podOf(&list.Items[i]))
	}
	slices.SortFunc(out, func(a, b Pod) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Pod returns the named pod; a missing one is an error matching ErrNotFound.
func (c *Client) Pod(ctx context.Context, name string) (Pod, error) {
	p, err := c.cs.CoreV1().Pods(c.namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return Pod{}, c.explain(err, "get", "pods", name)
	}
	return podOf(p), nil
}

// Delete deletes the pod with the grace period given (nil: the pod's own)
// and returns when the API server accepted it, with the time it did.
func (c *Client) Delete(ctx context.Context, name string, grace *time.Duration) (time.Time, error) {
	opts := metav1.DeleteOptions{}
	if grace != nil {
		secs := int64(grace.Round(time.Second) / time.Second)
		opts.GracePeriodSeconds = &secs
	}
	err := c.cs.CoreV1().Pods(c.namespace).Delete(ctx, name, opts)
	at := time.Now()
	if err != nil {
		return time.Time{}, c.explain(err, "delete", "pods", name)
	}
	return at, nil
}

// Agent describes an ephemeral container drill adds to a pod to run its
// commands there: signals into the target container's processes (it shares
// their process namespace) and network rules (NET_ADMIN) in the pod's
// network namespace.
type Agent struct {
	Name     string   // container name, unique in the pod
	Image    string   // must hold sh and the tools the commands use
	Target   string   // the container whose process namespace it joins
	NetAdmin bool     // add CAP_NET_ADMIN (Pod Security baseline refuses it)
	Command  []string // what it runs until the pod ends
}

// AddAgent adds the ephemeral container to the pod. It fails with an
// explained error when the API server refuses (RBAC, Pod Security); a
// container of that name already there is an error too: ephemeral
// containers cannot be changed or removed.
func (c *Client) AddAgent(ctx context.Context, pod string, a Agent) error {
	p, err := c.cs.CoreV1().Pods(c.namespace).Get(ctx, pod, metav1.GetOptions{})
	if err != nil {
		return c.explain(err, "get", "pods", pod)
	}
	for _, ec := range p.Spec.EphemeralContainers {
		if ec.Name == a.Name {
			return fmt.Errorf("pod %s already has an ephemeral container %s", pod, a.Name)
		}
	}
	ec := corev1.EphemeralContainer{
		TargetContainerName: a.Target,
		EphemeralContainerCommon: corev1.EphemeralContainerCommon{
			Name: a.Name, Image: a.Image, Command: a.Command,
			ImagePullPolicy:          corev1.PullIfNotPresent,
			TerminationMessagePolicy: corev1.TerminationMessageReadFile,
			SecurityContext:          &corev1.SecurityContext{RunAsUser: ptr(int64(0)), RunAsNonRoot: ptr(false)},
		},
	}
	if a.NetAdmin {
		ec.SecurityContext.Capabilities = &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN"}}
	}
	p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers, ec)
	if _, err := c.cs.CoreV1().Pods(c.namespace).UpdateEphemeralContainers(ctx, pod, p, metav1.UpdateOptions{}); err != nil {
		return c.explain(err, "update", "pods/ephemeralcontainers", pod)
	}
	return nil
}

// WaitRunning waits until the pod's container (ephemeral or not) runs, or
// ctx ends; the error then says the container's last known state.
func (c *Client) WaitRunning(ctx context.Context, pod, container string) (Pod, error) {
	var last Pod
	for {
		p, err := c.Pod(ctx, pod)
		if err == nil {
			last = p
			if _, ok := p.Running[container]; ok {
				return p, nil
			}
			if st, ok := p.Ephemeral[container]; ok && strings.HasPrefix(st, "terminated") {
				return p, fmt.Errorf("container %s of pod %s has ended: %s", container, pod, st)
			}
		} else if errors.Is(err, ErrNotFound) || ctx.Err() != nil {
			return p, err
		}
		select {
		case <-ctx.Done():
			state := "not reported by a kubelet"
			if st := last.Ephemeral[container]; st != "" {
				state = st
			}
			if last.Node == "" {
				state += "; the pod is on no node"
			}
			return last, fmt.Errorf("container %s of pod %s is not running (%s): %w", container, pod, state, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// ExecResult is a command's outcome.
type ExecResult struct {
	Stdout, Stderr []byte
	ExitCode       int
}

// Exec runs argv in the pod's container and waits for its end. A non-zero
// exit is not an error.
func (c *Client) Exec(ctx context.Context, pod, container string, argv []string, stdin []byte) (ExecResult, error) {
	req := c.cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(c.namespace).Name(pod).SubResource("exec")
	req.VersionedParams(&corev1.PodExecOptions{
		Container: container, Command: argv, Stdin: stdin != nil, Stdout: true, Stderr: true,
	}, scheme.ParameterCodec)
	ws, err := remotecommand.NewWebSocketExecutor(c.rest, "GET", req.URL().String())
	if err != nil {
		return ExecResult{}, fmt.Errorf("exec in pod %s: %w", pod, err)
	}
	spdy, err := remotecommand.NewSPDYExecutor(c.rest, "POST", req.URL())
	if err != nil {
		return ExecResult{}, fmt.Errorf("exec in pod %s: %w", pod, err)
	}
	// Fall back to SPDY only when the API server refuses the WebSocket
	// upgrade (as kubectl does): after any other error the command may have
	// run, and a fault must not run twice.
	executor, err := remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	if err != nil {
		return ExecResult{}, fmt.Errorf("exec in pod %s: %w", pod, err)
	}
	var stdout, stderr bytes.Buffer
	opts := remotecommand.StreamOptions{Stdout: &stdout, Stderr: &stderr}
	if stdin != nil {
		opts.Stdin = bytes.NewReader(stdin)
	}
	err = executor.StreamWithContext(ctx, opts)
	res := ExecResult{Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}
	var exit exec.CodeExitError
	if errors.As(err, &exit) {
		res.ExitCode = exit.Code
		return res, nil
	}
	if err != nil {
		return res, c.explain(err, "create", "pods/exec", pod)
	}
	return res, nil
}

// Logs returns what the pod's container logged since the given time (zero:
// all), each line prefixed with its RFC 3339 timestamp.
func (c *Client) Logs(ctx context.Context, pod, container string, since time.Time) ([]byte, error) {
	opts := &corev1.PodLogOptions{Container: container, Timestamps: true}
	if !since.IsZero() {
		t := metav1.NewTime(since)
		opts.SinceTime = &t
	}
	stream, err := c.cs.CoreV1().Pods(c.namespace).GetLogs(pod, opts).Stream(ctx)
	if err != nil {
		return nil, c.explain(err, "get", "pods/log", pod)
	}
	defer stream.Close()
	return io.ReadAll(stream)
}

// Permission is one thing drill may need to do in the namespace.
type Permission struct {
	Verb, Resource, Subresource string
}

func (p Permission) String() string {
	r := p.Resource
	if p.Subresource != "" {
		r += "/" + p.Subresource
	}
	return p.Verb + " " + r
}

// Missing asks the API server (SelfSubjectAccessReview) which of perms the
// client's user lacks in the namespace.
func (c *Client) Missing(ctx context.Context, perms ...Permission) ([]Permission, error) {
	var missing []Permission
	for _, p := range perms {
		review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
			ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: c.namespace, Verb: p.Verb, Resource: p.Resource, Subresource: p.Subresource},
		}}
		got, err := c.cs.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
		if err != nil {
			return nil, fmt.Errorf("ask the API server %s whether drill may %s: %w", c.server, p, err)
		}
		if !got.Status.Allowed {
			missing = append(missing, p)
		}
	}
	return missing, nil
}

// PodSecurity returns the namespace's Pod Security level that is enforced
// (the label pod-security.kubernetes.io/enforce), "" when none is set. A
// user who may not read namespaces gets "" and ok false.
func (c *Client) PodSecurity(ctx context.Context) (level string, ok bool, err error) {
	ns, err := c.cs.CoreV1().Namespaces().Get(ctx, c.namespace, metav1.GetOptions{})
	if apierrors.IsForbidden(err) {
		return "", false, nil
	}
	if err != nil {
		return "", false, c.explain(err, "get", "namespaces", c.namespace)
	}
	return ns.Labels["pod-security.kubernetes.io/enforce"], true, nil
}

// PodCIDRs returns the nodes' pod address ranges (spec.podCIDRs), for the
// rules that cut a pod off from every other pod; none when the user may not
// list nodes.
func (c *Client) PodCIDRs(ctx context.Context) ([]string, error) {
	nodes, err := c.cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if apierrors.IsForbidden(err) {
		return nil, nil
	}
	if err != nil {
		return nil, c.explain(err, "list", "nodes", "")
	}
	var out []string
	for _, n := range nodes.Items {
		for _, cidr := range n.Spec.PodCIDRs {
			if !slices.Contains(out, cidr) {
				out = append(out, cidr)
			}
		}
	}
	return out, nil
}

// explain turns an API error into one that says what drill was doing, and
// for a refusal, which permission or namespace label is missing.
func (c *Client) explain(err error, verb, resource, name string) error {
	what := verb + " " + resource
	if name != "" {
		what += " " + name
	}
	where := fmt.Sprintf("in namespace %s of %s", c.namespace, c.server)
	switch {
	case apierrors.IsNotFound(err):
		return fmt.Errorf("%s %s: %w (%w)", what, where, ErrNotFound, err)
	case apierrors.IsForbidden(err):
		msg := apierrors.ReasonForError(err)
		status, _ := err.(apierrors.APIStatus)
		detail := err.Error()
		if status != nil {
			detail = status.Status().Message
		}
		if strings.Contains(detail, "violates PodSecurity") {
			return fmt.Errorf("%s %s: refused by Pod Security: %s: drill's fault containers need the namespace's pod-security.kubernetes.io/enforce label to be privileged (or absent): %w", what, where, detail, err)
		}
		return fmt.Errorf("%s %s: forbidden (%s): give drill's user the RBAC verb %s on %s in this namespace: %w", what, where, msg, verb, resource, err)
	}
	return fmt.Errorf("%s %s: %w", what, where, err)
}

func ptr[T any](v T) *T { return &v }
