package kubelet

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// apiSource is what the kubelet does for the pods the API server binds to
// its node: it watches them (pkg/kubelet/config/apiserver.go, a
// list-watch of the pods whose spec.nodeName is the node), makes their
// volumes from API objects and service account tokens (the volume
// manager with its configMap, secret, projected and downwardAPI plugins,
// the watch-based configMap and secret managers, the token manager), and
// reports their status and confirms their deletion (the status manager).
// The pod manager runs their containers as it runs static pods'.
type apiSource struct {
	node string
	root string // prefix of the pods' directories (the tests' stand-in for /)
	pm   *podManager
	now  func() time.Time
	// every is how often volumes and statuses are synced.
	every time.Duration

	mu      sync.Mutex
	client  kubernetes.Interface
	store   cache.Store
	synced  func() bool
	objects *objectCache
	tokens  *tokenCache
	vols    map[types.UID]*podVolumeState
	errs    map[string]string
	// posted is the last status patched for each pod, with the
	// resourceVersion of the object it was patched over: until the
	// watch brings a newer one, the same status is not patched again.
	posted map[types.UID]postedStatus
}

type postedStatus struct {
	status corev1.PodStatus
	over   string
}

// podVolumeState is how far a pod's volumes made from API objects are.
type podVolumeState struct {
	// paths are where they are on the host, by volume name, once every
	// one of them has been made.
	paths map[string]string
	// err is why they have not all been made yet.
	err string
}

func newAPISource(node, root string, pm *podManager) *apiSource {
	return &apiSource{node: node, root: root, pm: pm, now: pm.Now, every: time.Second,
		vols: map[types.UID]*podVolumeState{}, errs: map[string]string{}, posted: map[types.UID]postedStatus{}}
}

// start begins the watch of the node's pods with client, and the loop
// that makes their volumes and reports their status, until ctx ends. The
// kubelet starts it once it has credentials and its Node.
func (a *apiSource) start(ctx context.Context, client kubernetes.Interface) {
	a.watch(ctx, client)
	go a.loop(ctx)
}

// watch begins the watch of the node's pods.
func (a *apiSource) watch(ctx context.Context, client kubernetes.Interface) {
	sel := fields.OneTermEqualSelector("spec.nodeName", a.node).String()
	pods := client.CoreV1().Pods(metav1.NamespaceAll)
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = sel
			return pods.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = sel
			return pods.Watch(ctx, o)
		},
	}
	// The reflector lists by a watch that streams the initial objects
	// (WatchListClient) unless the client says it cannot: client-go's
	// fake clientset says so.
	store, ctrl := cache.NewInformerWithOptions(cache.InformerOptions{
		ListerWatcher: cache.ToListWatcherWithWatchListSemantics(lw, client), ObjectType: &corev1.Pod{}, Handler: cache.ResourceEventHandlerFuncs{},
	})
	a.mu.Lock()
	a.client, a.store, a.synced = client, store, ctrl.HasSynced
	a.objects = newObjectCache(ctx, client)
	a.tokens = newTokenCache(client, a.now)
	a.mu.Unlock()
	klog.InfoS("Watching the pods bound to the node", "node", a.node)
	go ctrl.RunWithContext(ctx)
}

// desired is the node's API pods as the pod manager is to run them, and
// whether they are all of them (the watch has listed them). Mirror pods
// are the kubelet's own copies of static pods, not pods to run.
func (a *apiSource) desired() ([]*desiredPod, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.store == nil {
		return nil, false
	}
	synced := a.synced()
	var out []*desiredPod
	for _, obj := range a.store.List() {
		p := obj.(*corev1.Pod)
		if p.Spec.NodeName != a.node {
			continue
		}
		if _, mirror := p.Annotations[annConfigMirror]; mirror {
			continue
		}
		dp := &desiredPod{Source: sourceAPI, Pod: p}
		if needsAPIVolumes(p) {
			if v := a.vols[p.UID]; v == nil {
				dp.VolumeErr = "waiting for the pod's volumes to be set up"
			} else {
				dp.Volumes, dp.VolumeErr = v.paths, v.err
			}
		}
		out = append(out, dp)
	}
	slices.SortFunc(out, func(x, y *desiredPod) int { return strings.Compare(x.FullName(), y.FullName()) })
	return out, synced
}

// current is the watch's latest object of pod, nil when the API has no
// such pod any more (or a new one under its name).
func (a *apiSource) current(pod *corev1.Pod) *corev1.Pod {
	a.mu.Lock()
	defer a.mu.Unlock()
	obj, ok, err := a.store.GetByKey(pod.Namespace + "/" + pod.Name)
	if err != nil || !ok {
		return nil
	}
	if p := obj.(*corev1.Pod); p.UID == pod.UID {
		return p
	}
	return nil
}

func (a *apiSource) loop(ctx context.Context) {
	t := time.NewTicker(a.every)
	defer t.Stop()
	for {
		a.syncVolumes(ctx)
		a.syncStatuses(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// syncVolumes makes and updates the volumes of every API pod the pod
// manager has that could run, and forgets those of pods that are gone.
// Only pods the pod manager has get a directory, since the pod manager
// removes the directories of the pods it does not have.
func (a *apiSource) syncVolumes(ctx context.Context) {
	known := map[types.UID]bool{}
	refs := map[objectKey]bool{}
	for _, dp := range a.pm.apiPods() {
		pod := dp.Pod
		known[pod.UID] = true
		if dp.terminating() || !needsAPIVolumes(pod) {
			continue
		}
		if reason, _ := podProblem(dp); reason != "" {
			continue
		}
		for k := range objectRefs(pod) {
			refs[k] = true
		}
		paths, err := a.setUpVolumes(ctx, pod)
		a.mu.Lock()
		st := a.vols[pod.UID]
		if st == nil {
			st = &podVolumeState{}
			a.vols[pod.UID] = st
		}
		// A volume once set up stays mounted: a failed update of it is
		// only logged, as the kubelet does.
		switch {
		case err == nil:
			st.paths, st.err = paths, ""
		case st.paths == nil:
			st.err = err.Error()
		}
		a.mu.Unlock()
		a.logErr(string(pod.UID)+"/volumes", err, "Unable to set up the pod's volumes; will retry", "pod", klog.KObj(pod))
	}
	a.mu.Lock()
	for uid := range a.vols {
		if !known[uid] {
			delete(a.vols, uid)
		}
	}
	for k := range a.errs {
		if uid, _, _ := strings.Cut(k, "/"); !known[types.UID(uid)] {
			delete(a.errs, k)
		}
	}
	a.mu.Unlock()
	a.tokens.forget(known)
	a.objects.retain(refs)
}

// objectRefs are the configMaps and secrets a pod's volumes read.
func objectRefs(pod *corev1.Pod) map[objectKey]bool {
	refs := map[objectKey]bool{}
	for _, v := range pod.Spec.Volumes {
		switch {
		case v.ConfigMap != nil:
			refs[objectKey{kindConfigMap, pod.Namespace, v.ConfigMap.Name}] = true
		case v.Secret != nil:
			refs[objectKey{kindSecret, pod.Namespace, v.Secret.SecretName}] = true
		case v.Projected != nil:
			for _, s := range v.Projected.Sources {
				if s.ConfigMap != nil {
					refs[objectKey{kindConfigMap, pod.Namespace, s.ConfigMap.Name}] = true
				}
				if s.Secret != nil {
					refs[objectKey{kindSecret, pod.Namespace, s.Secret.Name}] = true
				}
			}
		}
	}
	return refs
}

// setUpVolumes writes each volume of a pod that is made from API objects
// into its directory, and says where they are, or why one could not be
// made.
func (a *apiSource) setUpVolumes(ctx context.Context, pod *corev1.Pod) (map[string]string, error) {
	paths := map[string]string{}
	var firstErr error
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		plugin := apiVolumePlugin(v)
		if plugin == "" {
			continue
		}
		dir := volumeDir(a.root, pod.UID, plugin, v.Name)
		payload, err := a.payload(ctx, pod, v)
		if err == nil {
			err = makeVolumeDir(dir)
		}
		if err == nil {
			var wrote bool
			if wrote, err = writeAtomic(dir, payload); wrote && err == nil {
				klog.InfoS("Wrote the volume's files", "pod", klog.KObj(pod), "volume", v.Name, "path", dir)
			}
		}
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("MountVolume.SetUp failed for volume %q : %w", v.Name, err)
			}
			continue
		}
		paths[v.Name] = dir
	}
	if firstErr != nil {
		return nil, firstErr
	}
	return paths, nil
}

// payload is the files of one volume made from API objects.
func (a *apiSource) payload(ctx context.Context, pod *corev1.Pod, v *corev1.Volume) (map[string]fileProjection, error) {
	switch {
	case v.ConfigMap != nil:
		return a.configMapPayload(pod.Namespace, v.ConfigMap.Name, v.ConfigMap.Items, v.ConfigMap.DefaultMode, v.ConfigMap.Optional)
	case v.Secret != nil:
		return a.secretPayload(pod.Namespace, v.Secret.SecretName, v.Secret.Items, v.Secret.DefaultMode, v.Secret.Optional)
	case v.DownwardAPI != nil:
		return downwardAPIPayload(pod, v.DownwardAPI.Items, v.DownwardAPI.DefaultMode)
	case v.Projected != nil:
		// The projected plugin's collectData: every source into one
		// directory, each file with the volume's default mode unless
		// its item says otherwise.
		payload := map[string]fileProjection{}
		mode := v.Projected.DefaultMode
		for _, s := range v.Projected.Sources {
			var part map[string]fileProjection
			var err error
			switch {
			case s.ServiceAccountToken != nil:
				var token string
				token, err = a.tokens.get(ctx, pod, s.ServiceAccountToken)
				part = map[string]fileProjection{s.ServiceAccountToken.Path: {Data: []byte(token), Mode: modeOr(mode)}}
			case s.ConfigMap != nil:
				part, err = a.configMapPayload(pod.Namespace, s.ConfigMap.Name, s.ConfigMap.Items, mode, s.ConfigMap.Optional)
			case s.Secret != nil:
				part, err = a.secretPayload(pod.Namespace, s.Secret.Name, s.Secret.Items, mode, s.Secret.Optional)
			case s.DownwardAPI != nil:
				part, err = downwardAPIPayload(pod, s.DownwardAPI.Items, mode)
			}
			if err != nil {
				return nil, err
			}
			maps.Copy(payload, part)
		}
		return payload, nil
	}
	return nil, fmt.Errorf("volume %q is not made from API objects", v.Name)
}

func (a *apiSource) configMapPayload(ns, name string, items []corev1.KeyToPath, mode *int32, optional *bool) (map[string]fileProjection, error) {
	obj, err := a.objects.get(objectKey{kindConfigMap, ns, name})
	opt := optional != nil && *optional
	if apierrors.IsNotFound(err) && opt {
		return map[string]fileProjection{}, nil
	}
	if err != nil {
		return nil, err
	}
	return keysPayload("configmap", configMapData(obj.(*corev1.ConfigMap)), items, mode, opt)
}

func (a *apiSource) secretPayload(ns, name string, items []corev1.KeyToPath, mode *int32, optional *bool) (map[string]fileProjection, error) {
	obj, err := a.objects.get(objectKey{kindSecret, ns, name})
	opt := optional != nil && *optional
	if apierrors.IsNotFound(err) && opt {
		return map[string]fileProjection{}, nil
	}
	if err != nil {
		return nil, err
	}
	return keysPayload("secret", obj.(*corev1.Secret).Data, items, mode, opt)
}

// syncStatuses reports the status of every API pod the pod manager has,
// and confirms the deletion of those it has terminated: the status
// manager patches a pod's status when it changed (never one already in a
// terminal phase) and, once a pod being deleted has stopped and its
// terminal phase is stored, deletes it with grace period 0, which lets
// the API server remove it.
func (a *apiSource) syncStatuses(ctx context.Context) {
	seen := map[types.UID]bool{}
	for _, s := range a.pm.apiStatuses() {
		seen[s.Pod.UID] = true
		cur := a.current(s.Pod)
		if cur == nil {
			continue // gone from the API: the pod manager forgets it next
		}
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		err := a.syncStatus(cctx, cur, s)
		cancel()
		a.logErr(string(cur.UID)+"/status", err, "Failed to update the pod's status", "pod", klog.KObj(cur))
	}
	a.mu.Lock()
	for uid := range a.posted {
		if !seen[uid] {
			delete(a.posted, uid)
		}
	}
	a.mu.Unlock()
}

func (a *apiSource) syncStatus(ctx context.Context, cur *corev1.Pod, s apiPodStatus) error {
	a.mu.Lock()
	last, ok := a.posted[cur.UID]
	a.mu.Unlock()
	stale := ok && last.over == cur.ResourceVersion && equality.Semantic.DeepEqual(last.status, s.Status)
	if !terminalPhase(cur.Status.Phase) && !stale {
		patched, err := postPodStatus(ctx, a.client, cur, s.Status)
		if err != nil {
			return err
		}
		if patched {
			a.mu.Lock()
			a.posted[cur.UID] = postedStatus{status: s.Status, over: cur.ResourceVersion}
			a.mu.Unlock()
		}
	}
	if !s.Terminated || cur.DeletionTimestamp == nil || !terminalPhase(s.Status.Phase) {
		return nil
	}
	zero := int64(0)
	uid := cur.UID
	err := a.client.CoreV1().Pods(cur.Namespace).Delete(ctx, cur.Name, metav1.DeleteOptions{
		GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &uid},
	})
	switch {
	case apierrors.IsNotFound(err), apierrors.IsConflict(err):
		return nil
	case err != nil:
		return fmt.Errorf("confirming the deletion: %w", err)
	}
	klog.InfoS("Pod fully terminated and removed from etcd", "pod", klog.KObj(cur), "podUID", uid)
	return nil
}

// logErr logs an error once per distinct message under key, and says
// when the trouble is over.
func (a *apiSource) logErr(key string, err error, msg string, kv ...any) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err == nil {
		if a.errs[key] != "" {
			klog.InfoS("Recovered: "+msg, kv...)
			delete(a.errs, key)
		}
		return
	}
	if a.errs[key] == err.Error() {
		return
	}
	a.errs[key] = err.Error()
	klog.ErrorS(err, msg, kv...)
}

// The kinds of objects volumes read.
const (
	kindConfigMap = "configmap"
	kindSecret    = "secret"
)

type objectKey struct{ kind, namespace, name string }

// objectCache is the kubelet's watch-based configMap and secret managers
// (pkg/kubelet/util/manager/watch_based_manager.go): one reflector per
// object a pod references, listing and watching that object alone by
// name, which is what the Node authorizer lets a node read. A volume is
// rewritten from the cache, so an object's change reaches the files
// within a sync.
type objectCache struct {
	ctx    context.Context
	client kubernetes.Interface
	mu     sync.Mutex
	items  map[objectKey]*watchedObject
}

type watchedObject struct {
	store  cache.Store
	synced func() bool
	stop   context.CancelFunc
}

func newObjectCache(ctx context.Context, client kubernetes.Interface) *objectCache {
	return &objectCache{ctx: ctx, client: client, items: map[objectKey]*watchedObject{}}
}

// get is the object as last seen, starting its watch on first use. An
// object not listed yet is an error to retry; one the API has not is
// NotFound.
func (c *objectCache) get(k objectKey) (runtime.Object, error) {
	c.mu.Lock()
	w := c.items[k]
	fresh := w == nil
	if fresh {
		w = c.watch(k)
		c.items[k] = w
	}
	c.mu.Unlock()
	if fresh {
		// A first list takes a round trip: wait for it a little rather
		// than fail the volume at once.
		ctx, cancel := context.WithTimeout(c.ctx, 2*time.Second)
		cache.WaitForCacheSync(ctx.Done(), w.synced)
		cancel()
	}
	if !w.synced() {
		return nil, fmt.Errorf("%s %s/%s is not listed yet", k.kind, k.namespace, k.name)
	}
	obj, ok, err := w.store.GetByKey(k.namespace + "/" + k.name)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, apierrors.NewNotFound(corev1.Resource(k.kind+"s"), k.name)
	}
	return obj.(runtime.Object), nil
}

func (c *objectCache) watch(k objectKey) *watchedObject {
	ctx, cancel := context.WithCancel(c.ctx)
	sel := fields.OneTermEqualSelector("metadata.name", k.name).String()
	lw := &cache.ListWatch{}
	var obj runtime.Object
	switch k.kind {
	case kindConfigMap:
		obj = &corev1.ConfigMap{}
		api := c.client.CoreV1().ConfigMaps(k.namespace)
		lw.ListWithContextFunc = func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = sel
			return api.List(ctx, o)
		}
		lw.WatchFuncWithContext = func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = sel
			return api.Watch(ctx, o)
		}
	default:
		obj = &corev1.Secret{}
		api := c.client.CoreV1().Secrets(k.namespace)
		lw.ListWithContextFunc = func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = sel
			return api.List(ctx, o)
		}
		lw.WatchFuncWithContext = func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = sel
			return api.Watch(ctx, o)
		}
	}
	store, ctrl := cache.NewInformerWithOptions(cache.InformerOptions{
		ListerWatcher: cache.ToListWatcherWithWatchListSemantics(lw, c.client), ObjectType: obj, Handler: cache.ResourceEventHandlerFuncs{},
	})
	go ctrl.RunWithContext(ctx)
	return &watchedObject{store: store, synced: ctrl.HasSynced, stop: cancel}
}

// retain stops watching the objects no pod references any more.
func (c *objectCache) retain(refs map[objectKey]bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, w := range c.items {
		if !refs[k] {
			w.stop()
			delete(c.items, k)
		}
	}
}

// tokenCache is the kubelet's token manager (pkg/kubelet/token): a
// service account token per pod and projection, requested with the
// TokenRequest API bound to the pod, and requested again once 80% of its
// lifetime has passed (or 24 hours). A refresh that fails leaves the
// current token in use while it is valid.
type tokenCache struct {
	client kubernetes.Interface
	now    func() time.Time
	mu     sync.Mutex
	tokens map[tokenKey]*authenticationv1.TokenRequest
}

type tokenKey struct {
	namespace, serviceAccount, audience string
	expirationSeconds                   int64
	pod                                 types.UID
}

// maxTokenTTL is how old a token may get before it is refreshed whatever
// its expiry.
const maxTokenTTL = 24 * time.Hour

func newTokenCache(client kubernetes.Interface, now func() time.Time) *tokenCache {
	return &tokenCache{client: client, now: now, tokens: map[tokenKey]*authenticationv1.TokenRequest{}}
}

func (t *tokenCache) get(ctx context.Context, pod *corev1.Pod, p *corev1.ServiceAccountTokenProjection) (string, error) {
	exp := int64(3600) // the API's default
	if p.ExpirationSeconds != nil {
		exp = *p.ExpirationSeconds
	}
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	key := tokenKey{pod.Namespace, sa, p.Audience, exp, pod.UID}
	t.mu.Lock()
	cached := t.tokens[key]
	t.mu.Unlock()
	if cached != nil && !t.requiresRefresh(cached) {
		return cached.Status.Token, nil
	}
	var audiences []string
	if p.Audience != "" {
		audiences = []string{p.Audience}
	}
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		Audiences:         audiences,
		ExpirationSeconds: &exp,
		BoundObjectRef:    &authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID},
	}}
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	tr, err := t.client.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(cctx, sa, req, metav1.CreateOptions{})
	if err == nil && tr.Status.Token == "" {
		err = fmt.Errorf("the API server returned no token")
	}
	if err != nil {
		if cached != nil && t.now().Before(cached.Status.ExpirationTimestamp.Time) {
			klog.ErrorS(err, "Couldn't refresh the service account token; the current one is still valid", "pod", klog.KObj(pod), "serviceAccount", sa)
			return cached.Status.Token, nil
		}
		return "", fmt.Errorf("failed to fetch token: %w", err)
	}
	if tr.Spec.ExpirationSeconds == nil {
		tr.Spec.ExpirationSeconds = &exp
	}
	t.mu.Lock()
	t.tokens[key] = tr
	t.mu.Unlock()
	klog.InfoS("Got a service account token", "pod", klog.KObj(pod), "serviceAccount", sa, "audiences", audiences,
		"expires", tr.Status.ExpirationTimestamp.Time.Format(time.RFC3339))
	return tr.Status.Token, nil
}

// requiresRefresh is the token manager's test, without its jitter: a
// token is refreshed once within 20% of its lifetime of its expiry, or
// 24 hours after it was issued.
func (t *tokenCache) requiresRefresh(tr *authenticationv1.TokenRequest) bool {
	now := t.now()
	exp := tr.Status.ExpirationTimestamp.Time
	ttl := time.Duration(*tr.Spec.ExpirationSeconds) * time.Second
	iat := exp.Add(-ttl)
	return now.After(iat.Add(maxTokenTTL)) || now.After(exp.Add(-ttl*20/100))
}

// forget drops the tokens of pods that are gone.
func (t *tokenCache) forget(known map[types.UID]bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k := range t.tokens {
		if !known[k.pod] {
			delete(t.tokens, k)
		}
	}
}
