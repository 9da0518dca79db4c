// The operator page's recent sales, each with a refund action (amount, then the PIN again).
"use strict";

const SALES_REFRESH_MS = 5000;

function money(minor, currency) {
  return `${currency} ${(minor / 100).toFixed(2)}`;
}

function saleRow(sale) {
  const row = document.createElement("tr");
  const name = document.createElement("th");
  name.textContent = `${sale.wall_time.slice(0, 19)} · ${sale.method}`;
  const cell = document.createElement("td");
  const refunded = sale.refunded_minor ? ` (refunded ${money(sale.refunded_minor, sale.currency)})` : "";
  cell.textContent = `${money(sale.amount_minor, sale.currency)}${refunded} `;
  if (sale.remaining_minor > 0) {
    const button = document.createElement("button");
    button.className = "btn secondary";
    button.type = "button";
    button.textContent = "Refund · 退款";
    button.addEventListener("click", () => refundSale(sale));
    cell.append(button);
  }
  row.append(name, cell);
  return row;
}

async function refreshSales() {
  const response = await fetch("/api/operator/sales");
  if (!response.ok) return;
  const body = await response.json();
  document.getElementById("sales").replaceChildren(...body.sales.map(saleRow));
}

async function refundSale(sale) {
  const text = prompt(`Refund how much of ${money(sale.amount_minor, sale.currency)}?`,
    (sale.remaining_minor / 100).toFixed(2));
  if (text === null) return;
  const amount = Math.round(parseFloat(text) * 100);
  const pin = prompt("Operator PIN · 管理员密码");
  if (pin === null) return;
  const response = await fetch("/api/operator/refunds", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ pin, sale_id: sale.sale_id, amount_minor: amount,
      reference: `op-${crypto.randomUUID ? crypto.randomUUID() : Date.now() + "-" + Math.random().toString(16).slice(2)}`, reason: "operator refund" }),
  });
  const body = await response.json();
  const result = document.getElementById("refund-result");
  result.textContent = response.ok ? `Refund ${body.status}` : `Refused: ${body.reason}`;
  result.hidden = false;
  refreshSales();
}

refreshSales();
setInterval(refreshSales, SALES_REFRESH_MS);
