"""The Ruby of the ``attonix_base`` cookbook: metadata, attributes, recipes and templates.

The recipes hold no data: what differs between hosts comes from node attributes
(``chef/nodes/<host>.json``) and from host-specific cookbook files
(``files/host-<fqdn>/attonix.nft``, which Chef picks by the node's FQDN).
"""

from __future__ import annotations

from attonix.render import hosts

COOKBOOK = "attonix_base"
VERSION = "1.0.0"


def metadata_rb(*, description: str) -> str:
    """``metadata.rb`` of the cookbook."""
    return f"""\
name '{COOKBOOK}'
maintainer 'attonix'
license 'Apache-2.0'
description '{description}'
version '{VERSION}'
chef_version '>= 18.0'
supports 'ubuntu', '>= 22.04'
"""


ATTRIBUTES_RB = f"""\
# Managed by attonix. Defaults only: each host's values come from its policy (or node JSON).
# One login per person (name, comment, ssh_keys, sudo), set per node; no shared account.
default['attonix']['logins'] = []
default['attonix']['packages'] = %w({" ".join(hosts.BASE_PACKAGES)})
default['attonix']['sysctl'] = {{}}
default['attonix']['load_balancers'] = []
# nil means the interface of the default route (Ohai's network/default_interface).
default['attonix']['keepalived']['interface'] = nil

# The node's policy carries every member's attributes keyed by FQDN: this node's entry wins.
own = (node['attonix']['nodes'] || {{}})[node['fqdn']] || {{}}
own.each {{ |key, value| default['attonix'][key] = value }}
"""

DEFAULT_RB = """\
# Managed by attonix: the packages and services every host runs.
package node['attonix']['packages']

%w(chrony auditd).each do |svc|
  service svc do
    action %i(enable start)
  end
end

file '/etc/apt/apt.conf.d/20auto-upgrades' do
  content <<~APT
    APT::Periodic::Update-Package-Lists "1";
    APT::Periodic::Unattended-Upgrade "1";
  APT
  owner 'root'
  group 'root'
  mode '0644'
end

# Each person logs in with their own SSH keys only: passwords stay locked.
group 'attonix-login'

node['attonix']['logins'].each do |login|
  user login['name'] do
    comment login['comment']
    manage_home true
    shell '/bin/bash'
    action %i(create lock)
  end

  group 'attonix-login' do
    members [login['name']]
    append true
    action :modify
  end

  directory "/home/#{login['name']}/.ssh" do
    owner login['name']
    group login['name']
    mode '0700'
  end

  file "/home/#{login['name']}/.ssh/authorized_keys" do
    content login['ssh_keys'].map { |key| "#{key}\n" }.join
    owner login['name']
    group login['name']
    mode '0600'
  end
end
"""

HARDENING_RB = f"""\
# Managed by attonix: SSH and kernel hardening.
service 'ssh' do
  action :nothing
end

cookbook_file '{hosts.SSHD_DROP_IN}' do
  source 'sshd-hardening.conf'
  owner 'root'
  group 'root'
  mode '0644'
  notifies :run, 'execute[check sshd configuration]', :immediately
end

# Reload only a configuration sshd accepts, so a bad change can never lock everyone out.
execute 'check sshd configuration' do
  command %w(/usr/sbin/sshd -t)
  action :nothing
  notifies :reload, 'service[ssh]', :delayed
end

template '{hosts.SYSCTL_DROP_IN}' do
  source 'sysctl.conf.erb'
  owner 'root'
  group 'root'
  mode '0644'
  variables(settings: node['attonix']['sysctl'])
  notifies :run, 'execute[apply sysctl settings]', :immediately
end

execute 'apply sysctl settings' do
  command %w(sysctl --system)
  action :nothing
end
"""

FIREWALL_RB = f"""\
# Managed by attonix: the host's nftables ruleset (files/host-<fqdn>/attonix.nft).
package 'nftables'

cookbook_file '{hosts.NFT_CONF}' do
  source 'attonix.nft'
  owner 'root'
  group 'root'
  mode '0755'
  verify 'nft -c -f %{{path}}'
  notifies :run, 'execute[load nftables ruleset]', :immediately
end

execute 'load nftables ruleset' do
  command %w(nft -f {hosts.NFT_CONF})
  action :nothing
end

service 'nftables' do
  action :enable
end
"""

HAPROXY_RB = """\
# Managed by attonix: haproxy and keepalived on the members of the load balancers.
load_balancers = node['attonix']['load_balancers']
return if load_balancers.empty?

package %w(haproxy keepalived)

template '/etc/haproxy/haproxy.cfg' do
  source 'haproxy.cfg.erb'
  owner 'root'
  group 'haproxy'
  mode '0640'
  variables(load_balancers: load_balancers.map { |lb| lb['name'] })
  verify 'haproxy -c -f %{path}'
  notifies :reload, 'service[haproxy]', :delayed
end

template '/etc/keepalived/keepalived.conf' do
  source 'keepalived.conf.erb'
  owner 'root'
  group 'root'
  mode '0640'
  variables(
    load_balancers: load_balancers,
    interface: node['attonix']['keepalived']['interface'] || node['network']['default_interface']
  )
  notifies :restart, 'service[keepalived]', :delayed
end

%w(haproxy keepalived).each do |svc|
  service svc do
    action %i(enable start)
  end
end
"""

SYSCTL_TEMPLATE = """\
# Managed by attonix (Chef): kernel hardening and role settings.
<% @settings.sort.each do |key, value| -%>
<%= key %> = <%= value %>
<% end -%>
"""


def readme(bp_name: str, *, policy_group: str, policies: list[str]) -> str:
    """``README.md`` of the cookbook: what it does, how it is fed, how to run it."""
    names = "\n".join(f"- `{p}` — `policyfiles/{p}.rb`" for p in policies)
    return f"""\
# {COOKBOOK}

Managed by attonix from blueprint `{bp_name}`; re-render instead of editing.

Keeps the blueprint's Ubuntu hosts converged: packages, one locked login per person with their
own SSH keys (`default`), SSH and kernel hardening (`hardening`), the host's nftables ruleset
(`firewall`, verified with `nft -c` before it is installed) and haproxy with keepalived on load
balancer members (`haproxy`, verified with `haproxy -c`).

## Attributes

All under `node['attonix']`: `packages`, `sysctl`, `zones`, `logins` (name, comment,
ssh_keys, sudo), `load_balancers` (keepalived), `keepalived.interface`. Each policy sets them
per host under `node['attonix']['nodes'][<fqdn>]`; `attributes/default.rb` lifts the node's own
entry. haproxy terminates TLS with `/etc/haproxy/certs/<load balancer>.pem` (certificate chain
and key from the internal CA), which is delivered out of band and never part of this cookbook.

## Policies (policy group `{policy_group}`)

{names}

```
chef install policyfiles/<policy>.rb
chef push {policy_group} policyfiles/<policy>.rb
```

A new host registers itself at first boot (cloud-init): its first-boot JSON names its
`policy_name` and `policy_group`, once the validation key has been delivered.
"""
