// Datasets: the list, and upload by dropping CSV or Parquet files (or picking them).
import { api } from '../api.js';
import { errorText, fill, fmtBytes, fmtNumber, fmtTime, h, shortId } from '../dom.js';

export async function datasetsView(root, { signal }) {
  const status = h('p', { id: 'upload-status', class: 'muted' }, 'Drop CSV or Parquet files here, or ');
  const picker = h('input', { type: 'file', accept: '.csv,.parquet,text/csv', multiple: true, hidden: true });
  status.append(h('button', { class: 'link', onclick: () => picker.click() }, 'choose files'), '.');
  const zone = h('div', { id: 'dropzone', class: 'dropzone' },
    h('strong', {}, 'Upload a dataset'),
    h('p', { class: 'muted small' }, 'Columns: timestamp, open, high, low, close, volume.'),
    status, picker);
  const table = h('div', { id: 'datasets-table' });
  root.append(h('h1', {}, 'Datasets'), zone, table);

  const refresh = async () => {
    const { items } = await api('/api/v1/datasets', { signal });
    fill(table, items.length ? h('table', { class: 'grid' },
      h('thead', {}, h('tr', {}, ['Name', 'Bars', 'From', 'To', 'Size', 'Uploaded', 'Id', ''].map((t) => h('th', {}, t)))),
      h('tbody', {}, items.map((d) => h('tr', { 'data-id': d.id },
        h('td', {}, d.name), h('td', { class: 'num' }, fmtNumber(d.n_bars)),
        h('td', {}, fmtTime(d.first_timestamp)), h('td', {}, fmtTime(d.last_timestamp)),
        h('td', { class: 'num' }, fmtBytes(d.size_bytes)), h('td', {}, fmtTime(d.created_at)),
        h('td', { class: 'mono', title: d.id }, shortId(d.id)),
        h('td', {}, h('a', { href: `#/new?dataset=${d.id}` }, 'New backtest'))))))
      : h('p', { class: 'muted' }, 'No datasets yet.'));
  };

  const upload = async (files) => {
    for (const file of files) {
      const name = file.name.replace(/\.(csv|parquet)$/i, '') || file.name;
      const parquet = /\.parquet$/i.test(file.name);
      fill(status, `Uploading ${file.name} (${fmtBytes(file.size)})…`);
      try {
        const dataset = await api(`/api/v1/datasets?name=${encodeURIComponent(name)}`, {
          method: 'POST', body: file, headers: { 'Content-Type': parquet ? 'application/vnd.apache.parquet' : 'text/csv' },
        });
        fill(status, h('span', { class: 'ok' }, `Uploaded “${dataset.name}”: ${fmtNumber(dataset.n_bars)} bars.`));
      } catch (error) {
        fill(status, h('span', { class: 'error' }, `${file.name}: ${errorText(error)}`));
        return;
      }
    }
    await refresh();
  };

  zone.addEventListener('dragover', (event) => { event.preventDefault(); zone.classList.add('over'); });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (event) => {
    event.preventDefault();
    zone.classList.remove('over');
    upload([...event.dataTransfer.files]);
  });
  picker.addEventListener('change', () => upload([...picker.files]));
  await refresh();
}
