# shellcheck shell=sh
# Networking on the guest's own bridge, with the 6.1 kernel's bridge, veth
# and netfilter modules and Debian 12's iptables (nft). Sourced by
# run-test.

# pocky's rules of container ID in every table it uses.
ctr_rules() {
    for t in nat filter raw; do
        iptables -t "$t" -S
    done | grep -c "pocky:ctr:$1" || true
}

# get URL: its body on stdout. busybox 1.35's wget crashes on -T, so the
# time limit is timeout's.
get() {
    timeout 10 wget -q -O - "$1"
}

t_net_gateway() {
    # shellcheck disable=SC2016 # expanded in the container
    out=$(pocky run --rm "$IMG" sh -c \
        'gw=$(ip route | awk "/^default/ {print \$3}"); echo "gw=$gw"; ping -c 1 -W 5 "$gw"')
    has "$out" "1 packets received" "ping of the gateway"
    gw=$(echo "$out" | sed -n 's/^gw=//p')
    has "$(ip -4 addr show pocky0)" "inet $gw/" "the gateway is pocky0's address"
}

t_net_publish() {
    id=$(pocky run -d --name web -p 8080:80 "$IMG" httpd -f -p 80 -h /etc)
    ip=$(pocky inspect -f '{{.NetworkSettings.IPAddress}}' web)
    gw=$(ip -4 -o addr show pocky0 | awk '{print $4}' | cut -d/ -f1)
    motd=$(pocky exec web cat /etc/motd)
    # Directly on the bridge, then the published port from the guest's
    # loopback and its bridge address, then from another container
    # through the host's address (hairpin).
    until_ok get "http://$ip:80/motd"
    eq "$(get "http://127.0.0.1:8080/motd")" "$motd" "127.0.0.1:8080"
    eq "$(get "http://$gw:8080/motd")" "$motd" "$gw:8080"
    eq "$(pocky run --rm "$IMG" timeout 10 wget -q -O - "http://$gw:8080/motd")" "$motd" \
        "$gw:8080 from a container"
    # A raw TCP exchange with busybox nc, as a non-HTTP client would.
    out=$(printf 'GET /motd HTTP/1.0\r\n\r\n' | nc -w 5 127.0.0.1 8080)
    has "$out" "200 OK" "nc to 127.0.0.1:8080"
    eq "$(pocky port web)" "80/tcp -> 0.0.0.0:8080"
    [ "$(ctr_rules "$id")" -gt 0 ] || fail "no firewall rule of the container"
    pocky rm -f web
    eq "$(ctr_rules "$id")" 0 "rules of the removed container"
    if get "http://127.0.0.1:8080/motd" >/dev/null 2>&1; then
        fail "port 8080 still answers after rm"
    fi
}

# The names of the links whose name starts with pocky- (user bridges).
user_bridges() {
    ip -o link | awk -F': ' '$2 ~ /^pocky-/ {print $2}' | sort
}

t_net_user() {
    before=$(user_bridges)
    pocky network create --subnet 10.89.0.0/24 guestnet >/dev/null
    [ "$(user_bridges)" != "$before" ] || fail "no bridge for guestnet"
    sleeper db --network guestnet
    out=$(pocky run --rm --network guestnet "$IMG" ping -c 1 -W 5 db)
    has "$out" "1 packets received" "ping db by name"
    has "$out" "10.89.0." "db's address on guestnet"
    # Networks are kept apart: the default network cannot reach db.
    dbip=$(pocky inspect -f '{{.NetworkSettings.Networks.guestnet.IPAddress}}' db)
    exits 1 pocky run --rm "$IMG" ping -c 1 -W 2 "$dbip"
    pocky rm -f db
    pocky network rm guestnet
    eq "$(user_bridges)" "$before" "user bridges after network rm"
}
