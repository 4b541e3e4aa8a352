/* The plan's DAG as SVG: one band per top-level node (its children inside, framed), columns by
   dependency depth, edges as curves. Built with DOM calls only (no markup strings), so every
   label from a run is text, never HTML. */
"use strict";
(function () {
  const NS = "http://www.w3.org/2000/svg";
  const W = 150, H = 30, COL = 190, ROW = 40, PAD = 14, LABEL = 18;

  function el(name, attrs) {
    const e = document.createElementNS(NS, name);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    return e;
  }

  function layers(nodes) {
    const byId = new Map(nodes.map(n => [n.id, n]));
    const layer = new Map();
    const visiting = new Set();
    function depth(n) {
      if (layer.has(n.id)) return layer.get(n.id);
      if (visiting.has(n.id)) return 0;
      visiting.add(n.id);
      let d = 0;
      for (const dep of n.dependencies) {
        const m = byId.get(dep);
        if (m) d = Math.max(d, depth(m) + 1);
      }
      if (n.parent && byId.has(n.parent)) d = Math.max(d, depth(byId.get(n.parent)));
      visiting.delete(n.id);
      layer.set(n.id, d);
      return d;
    }
    nodes.forEach(depth);
    return layer;
  }

  function layout(nodes) {
    const layer = layers(nodes);
    const roots = [];
    const band = new Map();
    for (const n of nodes) {
      if (!band.has(n.root)) { band.set(n.root, []); roots.push(n.root); }
      band.get(n.root).push(n);
    }
    const pos = new Map();
    const bands = [];
    let y = PAD;
    for (const root of roots) {
      const members = band.get(root);
      const rows = new Map();
      for (const n of members) {
        const col = layer.get(n.id);
        const r = rows.get(col) || 0;
        rows.set(col, r + 1);
        pos.set(n.id, { x: PAD + col * COL, y: y + LABEL + r * ROW });
      }
      const height = LABEL + Math.max(...rows.values()) * ROW;
      bands.push({ root: root, y: y - 6, height: height + 4 });
      y += height + PAD;
    }
    let width = 0;
    for (const p of pos.values()) width = Math.max(width, p.x + W + PAD);
    return { pos: pos, bands: bands, width: width, height: y };
  }

  function render(container, nodes, onClick) {
    const L = layout(nodes);
    const svg = el("svg", { width: L.width, height: L.height, viewBox: `0 0 ${L.width} ${L.height}`, role: "img" });
    svg.setAttribute("aria-label", "workflow graph");
    const frag = document.createDocumentFragment();
    for (const b of L.bands) {
      frag.appendChild(el("rect", { class: "band", x: 4, y: b.y, width: L.width - 8, height: b.height, rx: 6 }));
      const t = el("text", { class: "band-label", x: PAD, y: b.y + 14 });
      t.textContent = b.root;
      frag.appendChild(t);
    }
    const byId = new Map(nodes.map(n => [n.id, n]));
    // a frame around every parent and its children (the hierarchy)
    const kids = new Map();
    for (const n of nodes) if (n.parent) { (kids.get(n.parent) || kids.set(n.parent, []).get(n.parent)).push(n.id); }
    for (const [parent, ids] of kids) {
      const all = [parent, ...ids].map(i => L.pos.get(i)).filter(Boolean);
      const x0 = Math.min(...all.map(p => p.x)) - 5, y0 = Math.min(...all.map(p => p.y)) - 5;
      const x1 = Math.max(...all.map(p => p.x)) + W + 5, y1 = Math.max(...all.map(p => p.y)) + H + 5;
      frag.appendChild(el("rect", { class: "group", x: x0, y: y0, width: x1 - x0, height: y1 - y0, rx: 6 }));
    }
    for (const n of nodes) {
      const b = L.pos.get(n.id);
      for (const dep of n.dependencies) {
        const a = L.pos.get(dep);
        if (!a) continue;
        const x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x, y2 = b.y + H / 2, mx = (x1 + x2) / 2;
        frag.appendChild(el("path", { class: "edge", d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}` }));
      }
      if (n.parent && L.pos.get(n.parent)) {
        const a = L.pos.get(n.parent);
        frag.appendChild(el("path", { class: "child", d: `M${a.x + 10},${a.y + H} L${a.x + 10},${b.y + H / 2} L${b.x},${b.y + H / 2}` }));
      }
    }
    const boxes = new Map();
    for (const n of nodes) {
      const p = L.pos.get(n.id);
      const g = el("g", { class: `node n-${n.state}`, transform: `translate(${p.x},${p.y})`, tabindex: 0 });
      g.dataset.id = n.id;
      g.dataset.state = n.state;
      g.appendChild(el("rect", { width: W, height: H }));
      const t = el("text", { x: 6, y: 19 });
      t.textContent = n.id.length > 22 ? n.id.slice(0, 21) + "…" : n.id;
      g.appendChild(t);
      const title = el("title", {});
      title.textContent = `${n.id} (${n.type}): ${n.state}\n${n.description}`;
      g.appendChild(title);
      g.addEventListener("click", () => onClick(n.id));
      g.addEventListener("keydown", e => { if (e.key === "Enter") onClick(n.id); });
      boxes.set(n.id, g);
      frag.appendChild(g);
    }
    svg.appendChild(frag);
    container.replaceChildren(svg);
    return {
      setState(id, state) {
        const g = boxes.get(id);
        if (!g) return;
        g.setAttribute("class", `node n-${state}` + (g.classList.contains("sel") ? " sel" : ""));
        g.dataset.state = state;
        const n = byId.get(id);
        if (n) n.state = state;
      },
      select(id) {
        for (const g of boxes.values()) g.classList.remove("sel");
        const g = boxes.get(id);
        if (g) g.classList.add("sel");
      },
      nodes: byId,
    };
  }

  window.VibeDag = { render: render, layout: layout };
})();
