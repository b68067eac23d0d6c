// Package kubeadm renders each host's kubeadm configuration: init on the
// first control-plane host, join (with controlPlane) on the others, join on
// workers; in the API version the Kubernetes version reads. etcd is always
// external to kubeadm: hagen writes and runs it.
package kubeadm

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/hagen/hagen/compiler/model"
	"github.com/hagen/hagen/internal/parallel"
	"github.com/hagen/hagen/pki"
	"github.com/hagen/hagen/render/bundle"
)

// Paths on the hosts.
const (
	ConfigPath = "/etc/kubernetes/kubeadm/kubeadm.yaml"
	PatchesDir = "/etc/kubernetes/kubeadm/patches"
	// RejoinConfigPath is the init host's JoinConfiguration, for its
	// replacement: a replaced init host joins the cluster it once made.
	RejoinConfigPath = "/etc/kubernetes/kubeadm/kubeadm-join.yaml"
	// AdminConf is the admin kubeconfig kubeadm writes on every master
	// (init and control-plane join).
	AdminConf = "/etc/kubernetes/admin.conf"
)

// FileAvailableCheck is the name of kubeadm's preflight check that fails
// when path already exists (cmd/kubeadm/app/preflight: FileAvailableCheck,
// "FileAvailable-" and the path with '/' as '-'), for
// --ignore-preflight-errors. kubeadm accepts unknown names there without a
// word, so a name is derived, never typed.
func FileAvailableCheck(path string) string {
	return "FileAvailable-" + strings.ReplaceAll(path, "/", "-")
}

// TokenTTL is how long the bootstrap token in the init configuration lives.
const TokenTTL = 24 * time.Hour

// kubeletPatch is kubeadm's kubeletconfiguration patch target (kubeadm
// 1.25+): graceful node shutdown, so that rebooting a master for
// maintenance drains its pods instead of killing them mid-request.
const kubeletPatchName = "kubeletconfiguration+strategic.yaml"

const kubeletPatch = `# Applied by kubeadm --patches (hagen): graceful node shutdown, so a reboot
# stops pods in order instead of killing them.
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
shutdownGracePeriod: 60s
shutdownGracePeriodCriticalPods: 20s
`

// UsesPatches reports whether kubeadm for this version reads the
// kubeletconfiguration patch target.
func UsesPatches(p *model.Plan) bool { return p.Kubernetes.Version.AtLeast(1, 25) }

// Files renders kubeadm.yaml for every control-plane host and worker.
func Files(p *model.Plan, s *pki.Secrets) ([]bundle.File, error) {
	hash, err := pki.CACertHash(s.CAs[pki.ClusterCA].Cert)
	if err != nil {
		return nil, fmt.Errorf("cluster CA: %w", err)
	}
	r := renderer{p: p, token: s.BootstrapToken, caHash: hash}
	// Hosts are independent; thousands of workers are encoded on every core.
	perHost := make([][]bundle.File, len(p.Hosts))
	err = parallel.Each(len(p.Hosts), func(i int) error {
		files, err := r.hostFiles(p.Hosts[i])
		perHost[i] = files
		return err
	})
	if err != nil {
		return nil, err
	}
	var files []bundle.File
	for _, fs := range perHost {
		files = append(files, fs...)
	}
	return files, nil
}

// hostFiles renders one host's kubeadm.yaml and patches.
func (r renderer) hostFiles(h *model.Host) ([]bundle.File, error) {
	p := r.p
	var docs []any
	switch {
	case p.Kubernetes.KubeadmAPI == model.KubeadmV1Alpha1 && h.Has(model.RoleControlPlane):
		docs = []any{r.masterConfiguration(h)}
	case p.Kubernetes.KubeadmAPI == model.KubeadmV1Alpha1 && h.Has(model.RoleWorker):
		docs = []any{r.nodeConfiguration(h)}
	case h == p.ControlPlane.Init():
		docs = []any{r.initConfiguration(h), r.clusterConfiguration()}
	case h.Has(model.RoleControlPlane), h.Has(model.RoleWorker):
		docs = []any{r.joinConfiguration(h)}
	default:
		return nil, nil // dedicated etcd hosts run no kubeadm
	}
	data, err := marshalDocs(docs)
	if err != nil {
		return nil, err
	}
	// 0600: the file holds the bootstrap token.
	files := []bundle.File{{Host: h.Name, Path: ConfigPath, Mode: bundle.ModeSecret, Data: data}}
	if h == p.ControlPlane.Init() && p.Kubernetes.KubeadmAPI != model.KubeadmV1Alpha1 {
		// The init host joins like the others when it is replaced: the
		// cluster it would init runs already.
		join, err := marshalDocs([]any{r.joinConfiguration(h)})
		if err != nil {
			return nil, err
		}
		files = append(files, bundle.File{Host: h.Name, Path: RejoinConfigPath, Mode: bundle.ModeSecret, Data: join})
	}
	if UsesPatches(p) {
		files = append(files, bundle.File{Host: h.Name, Path: PatchesDir + "/" + kubeletPatchName, Mode: bundle.ModePublic, Data: []byte(kubeletPatch)})
	}
	return files, nil
}

type renderer struct {
	p      *model.Plan
	token  string
	caHash string
}

func (r renderer) meta(kind string) typeMeta {
	return typeMeta{APIVersion: r.p.Kubernetes.KubeadmAPI, Kind: kind}
}

func (r renderer) v1beta4() bool { return r.p.Kubernetes.KubeadmAPI == model.KubeadmV1Beta4 }

func (r renderer) nodeRegistration(h *model.Host) nodeRegistration {
	nr := nodeRegistration{Name: h.Name}
	// node-ip: on hosts with several interfaces (the guides' eth1 private
	// network) the kubelet would otherwise pick the default route's.
	if r.v1beta4() {
		nr.KubeletExtraArgs = []arg{{Name: "node-ip", Value: h.Address.String()}}
	} else {
		nr.KubeletExtraArgs = map[string]string{"node-ip": h.Address.String()}
	}
	if h.Has(model.RoleControlPlane) && r.p.ControlPlane.Schedulable {
		nr.Taints = &[]taint{}
	}
	return nr
}

func (r renderer) patches() *patches {
	if !UsesPatches(r.p) {
		return nil
	}
	return &patches{Directory: PatchesDir}
}

func (r renderer) initConfiguration(h *model.Host) initConfiguration {
	return initConfiguration{
		typeMeta: r.meta("InitConfiguration"),
		BootstrapTokens: []bootstrapToken{{
			Token:       r.token,
			Description: "hagen: joins the nodes of cluster " + r.p.Name,
			TTL:         TokenTTL.String(),
			Groups:      []string{"system:bootstrappers:kubeadm:default-node-token"},
			Usages:      []string{"signing", "authentication"},
		}},
		NodeRegistration: r.nodeRegistration(h),
		LocalAPIEndpoint: apiEndpoint{AdvertiseAddress: h.Address.String(), BindPort: r.p.ControlPlane.Port},
		Patches:          r.patches(),
	}
}

func (r renderer) clusterConfiguration() clusterConfiguration {
	p := r.p
	c := clusterConfiguration{
		typeMeta:             r.meta("ClusterConfiguration"),
		ClusterName:          p.Name,
		KubernetesVersion:    "v" + p.Kubernetes.Version.String(),
		ControlPlaneEndpoint: p.ControlPlane.Endpoint.String(),
		CertificatesDir:      pki.Dir,
		ImageRepository:      p.Kubernetes.ImageRepository,
		Networking:           r.networking(),
		Etcd:                 etcd{External: r.externalEtcd()},
		APIServer:            apiServer{CertSANs: r.certSANs()},
	}
	if r.v1beta4() {
		c.EncryptionAlgorithm = string(p.PKI.KeyAlgorithm)
		c.CertificateValidityPeriod = p.PKI.CertValidity.String()
		c.CACertificateValidityPeriod = p.PKI.CAValidity.String()
	}
	return c
}

func (r renderer) networking() networking {
	n := r.p.Network
	return networking{ServiceSubnet: n.ServiceSubnet.String(), PodSubnet: n.PodSubnet.String(), DNSDomain: n.DNSDomain}
}

func (r renderer) externalEtcd() *externalEtcd {
	return &externalEtcd{
		Endpoints: r.p.Etcd.ClientURLs(),
		CAFile:    pki.CA(pki.EtcdCA).CertPath(),
		CertFile:  pki.Cert(pki.APIServerEtcdClient).CertPath(),
		KeyFile:   pki.Cert(pki.APIServerEtcdClient).KeyPath(),
	}
}

// certSANs: the endpoint every client dials must be in the apiserver
// certificate that kubeadm issues on each master, and so must the loopback
// names for local tools.
func (r renderer) certSANs() []string {
	sans := []string{r.p.ControlPlane.Endpoint.Host, "localhost", "127.0.0.1"}
	if a, err := netip.ParseAddr(r.p.ControlPlane.Endpoint.Host); err == nil && a.Is6() {
		sans = append(sans, "::1")
	}
	return sans
}

func (r renderer) joinConfiguration(h *model.Host) joinConfiguration {
	j := joinConfiguration{
		typeMeta:         r.meta("JoinConfiguration"),
		NodeRegistration: r.nodeRegistration(h),
		Discovery: discovery{BootstrapToken: &bootstrapTokenDiscovery{
			APIServerEndpoint: r.p.ControlPlane.Endpoint.String(),
			Token:             r.token,
			// Pin the CA: a join never trusts whatever answers at the endpoint.
			CACertHashes: []string{r.caHash},
		}},
		Patches: r.patches(),
	}
	if h.Has(model.RoleControlPlane) {
		j.ControlPlane = &joinControlPlane{LocalAPIEndpoint: apiEndpoint{AdvertiseAddress: h.Address.String(), BindPort: r.p.ControlPlane.Port}}
	}
	return j
}

func (r renderer) masterConfiguration(h *model.Host) masterConfiguration {
	p := r.p
	api := v1alpha1API{AdvertiseAddress: h.Address.String(), BindPort: p.ControlPlane.Port}
	// Several apiservers must agree on the kubernetes service's endpoints:
	// kubeadm 1.10 has the lease reconciler, 1.9 only a fixed count.
	extra := map[string]string{"apiserver-count": fmt.Sprint(len(p.ControlPlane.Hosts))}
	if p.Kubernetes.Version.AtLeast(1, 10) {
		api.ControlPlaneEndpoint = p.ControlPlane.Endpoint.Host
		extra = map[string]string{"endpoint-reconciler-type": "lease"}
	}
	return masterConfiguration{
		typeMeta:           r.meta("MasterConfiguration"),
		API:                api,
		Etcd:               v1alpha1Etcd(*r.externalEtcd()),
		Networking:         r.networking(),
		KubernetesVersion:  "v" + p.Kubernetes.Version.String(),
		NodeName:           h.Name,
		Token:              r.token,
		TokenTTL:           TokenTTL.String(),
		APIServerCertSANs:  r.certSANs(),
		APIServerExtraArgs: extra,
		CertificatesDir:    pki.Dir,
		ImageRepository:    p.Kubernetes.ImageRepository,
		NoTaintMaster:      p.ControlPlane.Schedulable,
	}
}

func (r renderer) nodeConfiguration(h *model.Host) nodeConfiguration {
	return nodeConfiguration{
		typeMeta:                   r.meta("NodeConfiguration"),
		DiscoveryTokenAPIServers:   []string{r.p.ControlPlane.Endpoint.String()},
		DiscoveryTokenCACertHashes: []string{r.caHash},
		Token:                      r.token,
		NodeName:                   h.Name,
	}
}

// marshalDocs writes a multi-document YAML file with a header.
func marshalDocs(docs []any) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString("# Generated by hagen. Holds the bootstrap token: keep it 0600.\n")
	// One encoder for all documents: it writes the "---" between them.
	// yaml.v3 encodes the structs directly; going through JSON as
	// sigs.k8s.io/yaml does costs most of a 5,000-host render.
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	for _, d := range docs {
		if err := enc.Encode(d); err != nil {
			return nil, err
		}
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
