// k6 script for record_fixtures.sh: closed loop (constant VUs, no sleep), one endpoint,
// with p(99) added to the summary's trend statistics and the summary written as JSON.
import http from 'k6/http';

export const options = {
  vus: Number(__ENV.VUS || 4),
  duration: __ENV.DURATION || '8s',
  summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)'],
};

export default function () {
  http.get(`${__ENV.TARGET}/work`);
}

export function handleSummary(data) {
  return { [__ENV.SUMMARY_OUT]: JSON.stringify(data, null, 1) };
}
