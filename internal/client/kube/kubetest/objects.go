package kubetest

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// AdminClient is a client-go clientset with the admin user's rights, for tests
// that set up namespaces, pods and RBAC on the real API server.
type AdminClient struct {
	t   testing.TB
	srv *Server
	cs  kubernetes.Interface
}

// AdminClient returns the admin user's clientset.
func (s *Server) AdminClient(t testing.TB) *AdminClient {
	t.Helper()
	a := AdminFrom(t, s.Kubeconfig(Admin))
	a.srv = s
	return a
}

// AdminFrom returns a clientset of the kubeconfig's user, who must have
// every right (examples/kube/node-up's admin). Namespace needs a Server.
func AdminFrom(t testing.TB, kubeconfig string) *AdminClient {
	t.Helper()
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatalf("admin kubeconfig: %v", err)
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatalf("admin client: %v", err)
	}
	return &AdminClient{t: t, cs: cs}
}

func (a *AdminClient) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 30*time.Second)
}

// Namespace creates a namespace with the given labels, ready for pods
// (Server.CreateNamespace).
func (a *AdminClient) Namespace(name string, labels map[string]string) {
	a.t.Helper()
	ctx, cancel := a.ctx()
	defer cancel()
	if err := a.srv.CreateNamespace(ctx, name, labels); err != nil {
		a.t.Fatalf("create namespace %s: %v", name, err)
	}
}

// Pod creates a pod on no node (no kubelet runs here, and an unscheduled
// pod is deleted at once) with one container per name, running image.
func (a *AdminClient) Pod(ns, name string, labels map[string]string, containers ...string) {
	a.t.Helper()
	ctx, cancel := a.ctx()
	defer cancel()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels}}
	for _, c := range containers {
		pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: c, Image: "drill-testbed:latest"})
	}
	if _, err := a.cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		a.t.Fatalf("create pod %s/%s: %v", ns, name, err)
	}
}

// RunPod creates a pod bound to node (there is no scheduler) whose one
// container, named container, runs command in image; the image must be on
// the node already (imagePullPolicy Never: nothing can be pulled).
func (a *AdminClient) RunPod(ns, name string, labels map[string]string, node, container, image string, command ...string) {
	a.t.Helper()
	ctx, cancel := a.ctx()
	defer cancel()
	zero := int64(0)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec: corev1.PodSpec{
			NodeName: node, TerminationGracePeriodSeconds: &zero, AutomountServiceAccountToken: new(bool),
			Containers: []corev1.Container{{Name: container, Image: image, Command: command, ImagePullPolicy: corev1.PullNever}},
		},
	}
	if _, err := a.cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		a.t.Fatalf("create pod %s/%s: %v", ns, name, err)
	}
}

// Service creates a Service of the pods that selector picks, on port.
func (a *AdminClient) Service(ns, name string, selector map[string]string, port int32) {
	a.t.Helper()
	ctx, cancel := a.ctx()
	defer cancel()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       corev1.ServiceSpec{Selector: selector, Ports: []corev1.ServicePort{{Port: port}}},
	}
	if _, err := a.cs.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		a.t.Fatalf("create service %s/%s: %v", ns, name, err)
	}
	a.t.Cleanup(func() {
		ctx, cancel := a.ctx()
		defer cancel()
		_ = a.cs.CoreV1().Services(ns).Delete(ctx, name, metav1.DeleteOptions{})
	})
}

// SetRunning writes the status a kubelet would: the pod Running at ip, the
// named containers (ephemeral ones included) running and every other one
// terminated. Only tests of API-level behaviour use it: no kubelet runs
// here.
func (a *AdminClient) SetRunning(ns, name, ip string, running ...string) {
	a.t.Helper()
	ctx, cancel := a.ctx()
	defer cancel()
	pod := a.get(ns, name)
	now := metav1.Now()
	state := func(c string) corev1.ContainerState {
		for _, r := range running {
			if r == c {
				return corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}
			}
		}
		return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed", FinishedAt: now}}
	}
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}}
	for _, c := range pod.Spec.Containers {
		pod.Status.ContainerStatuses = append(pod.Status.ContainerStatuses, corev1.ContainerStatus{Name: c.Name, Image: c.Image, State: state(c.Name)})
	}
	for _, c := range pod.Spec.EphemeralContainers {
		pod.Status.EphemeralContainerStatuses = append(pod.Status.EphemeralContainerStatuses, corev1.ContainerStatus{Name: c.Name, Image: c.Image, State: state(c.Name)})
	}
	if _, err := a.cs.CoreV1().Pods(ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		a.t.Fatalf("update status of pod %s/%s: %v", ns, name, err)
	}
}

// EphemeralContainers returns the pod's ephemeral containers as the API
// server stores them.
func (a *AdminClient) EphemeralContainers(ns, name string) []corev1.EphemeralContainer {
	a.t.Helper()
	return a.get(ns, name).Spec.EphemeralContainers
}

// get returns the pod as the API server stores it; a failure fails the test.
func (a *AdminClient) get(ns, name string) *corev1.Pod {
	a.t.Helper()
	ctx, cancel := a.ctx()
	defer cancel()
	pod, err := a.cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		a.t.Fatalf("get pod %s/%s: %v", ns, name, err)
	}
	return pod
}

// PodExists reports whether the pod is there.
func (a *AdminClient) PodExists(ns, name string) bool {
	a.t.Helper()
	ctx, cancel := a.ctx()
	defer cancel()
	_, err := a.cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	return err == nil
}

// Grant gives user the rules in namespace ns (a Role and a RoleBinding
// named after the user).
func (a *AdminClient) Grant(ns, user string, rules ...rbacv1.PolicyRule) {
	a.t.Helper()
	ctx, cancel := a.ctx()
	defer cancel()
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: user, Namespace: ns}, Rules: rules}
	if _, err := a.cs.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		a.t.Fatalf("create role: %v", err)
	}
	a.bind(ns, user, user, user)
}

// Rule is an RBAC rule on core resources (pods, pods/exec, ...).
func Rule(verbs []string, resources ...string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{APIGroups: []string{""}, Verbs: verbs, Resources: resources}
}

// Bind binds the Role named role in namespace ns to user too.
func (a *AdminClient) Bind(ns, role, user string) {
	a.t.Helper()
	a.bind(ns, role+"-"+user, role, user)
}

// bind creates the RoleBinding name of the Role role to user.
func (a *AdminClient) bind(ns, name, role, user string) {
	a.t.Helper()
	ctx, cancel := a.ctx()
	defer cancel()
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: role},
		Subjects:   []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: user}},
	}
	if _, err := a.cs.RbacV1().RoleBindings(ns).Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		a.t.Fatalf("create role binding: %v", err)
	}
}
