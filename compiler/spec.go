package compiler

// spec mirrors #Cluster for decoding; the schema has already applied
// defaults and checked types, bounds and enums, so every field is concrete.
type spec struct {
	Name       string `json:"name"`
	Kubernetes struct {
		Version         string `json:"version"`
		ImageRepository string `json:"imageRepository"`
	} `json:"kubernetes"`
	Network struct {
		PodSubnet     string `json:"podSubnet"`
		ServiceSubnet string `json:"serviceSubnet"`
		DNSDomain     string `json:"dnsDomain"`
	} `json:"network"`
	ControlPlane struct {
		Port         int  `json:"port"`
		Schedulable  bool `json:"schedulable"`
		LoadBalancer struct {
			Keepalived *struct {
				VIP       string `json:"vip"`
				Interface string `json:"interface"`
				RouterID  int    `json:"routerID"`
				Unicast   bool   `json:"unicast"`
				HAProxy   *struct {
					Port int `json:"port"`
				} `json:"haproxy"`
			} `json:"keepalived"`
			External *struct {
				Endpoint string `json:"endpoint"`
			} `json:"external"`
		} `json:"loadBalancer"`
	} `json:"controlPlane"`
	Etcd struct {
		Topology  string `json:"topology"`
		Run       string `json:"run"`
		Version   string `json:"version"`
		DataDir   string `json:"dataDir"`
		Discovery string `json:"discovery"`
	} `json:"etcd"`
	PKI struct {
		KeyAlgorithm string `json:"keyAlgorithm"`
		CAValidity   string `json:"caValidity"`
		CertValidity string `json:"certValidity"`
	} `json:"pki"`
	Hosts map[string]hostSpec `json:"hosts"`
}

type hostSpec struct {
	Address string   `json:"address"`
	Roles   []string `json:"roles"`
	Zone    string   `json:"zone"`
	Etcd    *struct {
		DataDir string `json:"dataDir"`
	} `json:"etcd"`
}
