# kube-router-ts image: Node 22 LTS on Debian slim, with the kernel tools the adapters drive.
FROM node:22-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build && npm prune --omit=dev

FROM node:22-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends iptables ipset nftables ipvsadm conntrack iproute2 containernetworking-plugins ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# --max-semi-space-size=4: see pkg/daemon/node-flags.ts
ENTRYPOINT ["node", "--max-semi-space-size=4", "/app/dist/cmd/kube-router.js"]
