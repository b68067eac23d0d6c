package kubeadm

// The subset of kubeadm's configuration types hagen writes. Field names and
// JSON tags follow cmd/kubeadm/app/apis/kubeadm/{v1beta4,v1beta3,v1alpha1};
// pointers and omitempty keep unset sections out of the output.

type typeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

// arg is v1beta4's {name, value} list entry; v1beta3 uses a map instead.
type arg struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type apiEndpoint struct {
	AdvertiseAddress string `json:"advertiseAddress,omitempty"`
	BindPort         int    `json:"bindPort,omitempty"`
}

type taint struct {
	Key    string `json:"key"`
	Effect string `json:"effect"`
}

type nodeRegistration struct {
	Name string `json:"name,omitempty"`
	// Taints: nil lets kubeadm default (the control-plane taint); an empty
	// list registers the node without taints.
	Taints *[]taint `json:"taints,omitempty"`
	// KubeletExtraArgs is []arg (v1beta4) or map[string]string (v1beta3).
	KubeletExtraArgs any `json:"kubeletExtraArgs,omitempty"`
}

type bootstrapToken struct {
	Token       string   `json:"token"`
	Description string   `json:"description,omitempty"`
	TTL         string   `json:"ttl,omitempty"`
	Groups      []string `json:"groups,omitempty"`
	Usages      []string `json:"usages,omitempty"`
}

type patches struct {
	Directory string `json:"directory"`
}

type initConfiguration struct {
	typeMeta
	BootstrapTokens  []bootstrapToken `json:"bootstrapTokens,omitempty"`
	NodeRegistration nodeRegistration `json:"nodeRegistration"`
	LocalAPIEndpoint apiEndpoint      `json:"localAPIEndpoint"`
	Patches          *patches         `json:"patches,omitempty"`
}

type externalEtcd struct {
	Endpoints []string `json:"endpoints"`
	CAFile    string   `json:"caFile"`
	CertFile  string   `json:"certFile"`
	KeyFile   string   `json:"keyFile"`
}

type etcd struct {
	External *externalEtcd `json:"external"`
}

type networking struct {
	ServiceSubnet string `json:"serviceSubnet"`
	PodSubnet     string `json:"podSubnet"`
	DNSDomain     string `json:"dnsDomain"`
}

type apiServer struct {
	CertSANs []string `json:"certSANs,omitempty"`
}

type clusterConfiguration struct {
	typeMeta
	ClusterName                 string     `json:"clusterName"`
	KubernetesVersion           string     `json:"kubernetesVersion"`
	ControlPlaneEndpoint        string     `json:"controlPlaneEndpoint"`
	CertificatesDir             string     `json:"certificatesDir"`
	ImageRepository             string     `json:"imageRepository,omitempty"`
	Networking                  networking `json:"networking"`
	Etcd                        etcd       `json:"etcd"`
	APIServer                   apiServer  `json:"apiServer"`
	EncryptionAlgorithm         string     `json:"encryptionAlgorithm,omitempty"`
	CertificateValidityPeriod   string     `json:"certificateValidityPeriod,omitempty"`
	CACertificateValidityPeriod string     `json:"caCertificateValidityPeriod,omitempty"`
}

type bootstrapTokenDiscovery struct {
	APIServerEndpoint string   `json:"apiServerEndpoint"`
	Token             string   `json:"token"`
	CACertHashes      []string `json:"caCertHashes"`
}

type discovery struct {
	BootstrapToken *bootstrapTokenDiscovery `json:"bootstrapToken"`
}

type joinControlPlane struct {
	LocalAPIEndpoint apiEndpoint `json:"localAPIEndpoint"`
}

type joinConfiguration struct {
	typeMeta
	NodeRegistration nodeRegistration  `json:"nodeRegistration"`
	Discovery        discovery         `json:"discovery"`
	ControlPlane     *joinControlPlane `json:"controlPlane,omitempty"`
	Patches          *patches          `json:"patches,omitempty"`
}

// v1alpha1 (kubeadm 1.9-1.10): every master runs "kubeadm init" with its
// own MasterConfiguration; workers join with a NodeConfiguration.

type v1alpha1API struct {
	AdvertiseAddress     string `json:"advertiseAddress"`
	ControlPlaneEndpoint string `json:"controlPlaneEndpoint,omitempty"`
	BindPort             int    `json:"bindPort"`
}

type v1alpha1Etcd struct {
	Endpoints []string `json:"endpoints"`
	CAFile    string   `json:"caFile"`
	CertFile  string   `json:"certFile"`
	KeyFile   string   `json:"keyFile"`
}

type masterConfiguration struct {
	typeMeta
	API                v1alpha1API       `json:"api"`
	Etcd               v1alpha1Etcd      `json:"etcd"`
	Networking         networking        `json:"networking"`
	KubernetesVersion  string            `json:"kubernetesVersion"`
	NodeName           string            `json:"nodeName"`
	Token              string            `json:"token"`
	TokenTTL           string            `json:"tokenTTL"`
	APIServerCertSANs  []string          `json:"apiServerCertSANs"`
	APIServerExtraArgs map[string]string `json:"apiServerExtraArgs"`
	CertificatesDir    string            `json:"certificatesDir"`
	ImageRepository    string            `json:"imageRepository,omitempty"`
	NoTaintMaster      bool              `json:"noTaintMaster,omitempty"`
}

type nodeConfiguration struct {
	typeMeta
	DiscoveryTokenAPIServers   []string `json:"discoveryTokenAPIServers"`
	DiscoveryTokenCACertHashes []string `json:"discoveryTokenCACertHashes"`
	Token                      string   `json:"token"`
	NodeName                   string   `json:"nodeName"`
}
