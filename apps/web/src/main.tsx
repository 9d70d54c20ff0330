import { render } from 'preact';
import { App } from './app';
import { readSettings } from './settings';
import './styles.css';

render(<App settings={readSettings()} />, document.getElementById('app')!);
