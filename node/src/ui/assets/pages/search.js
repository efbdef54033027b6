// Placeholder while the page is written (issue 17).
import { h, mount } from '../dom.js';

export async function render(main) {
  mount(main, h('h1', {}, 'search'));
}
